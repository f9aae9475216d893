"""The benchmark: `make bench` (`python -m tests.bench`).

On the same parts as `make faults` (tests/faults/stack.py: redis-server, a private
PostgreSQL cluster, the product's processes as ops/start starts them, the stand-in
Postmark), in one run:

  bare.py        the baseline: a Django-free Celery app, task `a` on one queue calling
                 `b.delay` on another, no result backend
  pipeline.py    chains/s of the baseline and reports/s of the product (monthly fan-out
                 to the Nth email accepted by the stand-in): at once or at a latency,
                 rate-limited over two email workers, workers started by hand, sizing
  sampling.py    what a pipeline row watches: emails per manager, workers' memory and
                 database connections every second, commits, the workers' settings
  webhooks.py    the tracking webhook under gunicorn as in production, posted at by
                 many clients: requests/s and latency
  reports.py     one manager's report (build and render) at several team sizes: time
                 and queries
  fanout.py      the monthly fan-out alone, in its own process: enqueues/s, peak memory
  seed.py        bulk seeding of the bench's databases (run as a subprocess)
  memory.py      a process's memory figures from /proc
  __main__.py    the run, the table and var/bench/last.json

Not collected by pytest (no test_*.py here); no timing is asserted anywhere.
"""
