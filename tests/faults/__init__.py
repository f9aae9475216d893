"""Fault injection with real parts: `make faults` (`python -m tests.faults`).

Starts redis-server (AOF), a private PostgreSQL cluster, the web server, both Celery
workers and beat exactly as production starts them (ops/start/*), and the suite's
stand-in Postmark posting delivery webhooks; runs last month's fan-out once per
scenario while breaking one part (or all of them), and counts what the provider
received per manager: lost reports and duplicates.

Not collected by pytest (no test_*.py here): it takes minutes and needs root or a
PostgreSQL install it can run as the current user.

  stack.py       the processes: Redis, PostgreSQL, the product's processes, the provider
  product.py     this process's view of the product (Django set up on the run's database)
  scenarios.py   the faults and the scenarios made of them
  run.py         one scenario: fresh state, fan-out, faults, counting
  report.py      the table and var/faults/last.json
  seed.py        seeding managers into a template database (run as a subprocess)
"""
