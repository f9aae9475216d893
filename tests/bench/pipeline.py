"""Throughput, measured from outside: the bare Celery chain and the product's pipeline.

Both are timed from the first publish to the last completion, seen by the harness: the
baseline's Redis counter reaching N, the product's Nth email accepted by the stand-in
Postmark (its own arrival time). Workers are started and answering before the clock
starts; nothing is warmed up in either.

A pipeline row's `Setup` says how it differs from the plain one: the stand-in's
latency and rate limit (EMAIL_RATE_LIMIT then goes to every product process), more
email workers, workers started by hand as Celery's docs do, memory and connections
sampled every second.
"""

import contextlib
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.bench import bare, sampling
from tests.faults import product
from tests.faults.stack import RUN_DB, VENV_BIN, Stack
from tests.support.fake_provider import busiest_second
from tests.support.processes import BACKEND_DIR, REPO_DIR
from tests.support.waiting import StopWaiting, wait_for

CONCURRENCY = "2"  # ops/start/worker's default, which `make run` uses
# Ceilings, not expectations (nothing here is judged on speed): seconds per email for a
# product several times slower than today's, and, with a rate limit, room for a product
# that retries a 429 with its usual backoff (EMAIL_RETRY_BACKOFF_MAX is 900 s).
SECONDS_PER_EMAIL = 0.2
RATE_LIMITED_RETRIES_S = 2 * 900


def busy_cpu_s() -> float:
    """CPU time the whole machine has spent busy so far, all processes (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def cpu_ms_each(busy_since: float, count: int) -> float:
    """The machine's busy CPU since `busy_since`, per chain or report: workers, Redis,
    PostgreSQL, the stand-in provider and this harness together."""
    return round(1000 * (busy_cpu_s() - busy_since) / count, 2)


def run_bare(stack: Stack, chains: int, logs_dir: Path) -> dict:
    """N chains a -> b over two workers with -c 2; chains per second."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    stack.logs_dir = logs_dir
    env = {"PYTHONPATH": str(REPO_DIR)}
    for queue in bare.QUEUES:
        argv = [str(VENV_BIN / "celery"), "-A", "tests.bench.bare", "worker", "-Q", queue]
        argv += ["--hostname", f"{queue}@%h", "--concurrency", CONCURRENCY, "-l", "WARNING"]
        stack.start_process(queue, argv, extra_env=env)
    try:
        stack.wait_ready(queues=bare.QUEUES)
        counter = redis.Redis.from_url(stack.redis.url)
        counter.delete(bare.DONE_KEY)
        started, busy = time.monotonic(), busy_cpu_s()
        for number in range(chains):
            bare.a.delay(number)
        wait_for(
            lambda: int(counter.get(bare.DONE_KEY) or 0) >= chains,
            timeout=60 + chains / 20,
            interval=0.01,
            what=f"{chains} bare chains",
        )
        seconds = time.monotonic() - started
        cpu_ms = cpu_ms_each(busy, chains)
        counter.close()
    finally:
        stack.stop_product()
    return {
        "chains": chains,
        "seconds": round(seconds, 3),
        "per_s": round(chains / seconds, 1),
        "cpu_ms_each": cpu_ms,
    }


@dataclass(frozen=True)
class Setup:
    """How a pipeline row runs, besides its seeded managers."""

    latency: float = 0.0  # the stand-in's, before each answer (seconds)
    rate_limit: int = 0  # the stand-in's (429 above it) and EMAIL_RATE_LIMIT; 0: none
    email_replicas: int = 1  # `ops/start/worker email` this many times
    by_hand: bool = False  # `celery -A core worker -Q <queue>` from backend/ instead
    watch: bool = False  # workers' RSS and database connections every second
    memory_at: tuple[int, ...] = ()  # after how many emails to read the workers' RSS

    def timeout(self, emails: int) -> float:
        seconds = 120 + emails * (SECONDS_PER_EMAIL + 2 * self.latency)
        if self.rate_limit:
            seconds += 3 * emails / self.rate_limit + RATE_LIMITED_RETRIES_S
        return seconds


def run_product(
    stack: Stack, template: str, count: int, logs_dir: Path, setup: Setup = Setup()
) -> dict:
    """Last month's fan-out over `count` seeded managers, to the provider's Nth email."""
    product.close()
    stack.postgres.copy(template, RUN_DB)
    stack.redis.flush()
    logs_dir.mkdir(parents=True, exist_ok=True)
    provider = stack.provider
    # reset() keeps both; the next row must find the stand-in as it was.
    saved = provider.latency, provider.rate_limit
    provider.latency, provider.rate_limit = setup.latency, setup.rate_limit
    commits_before = sampling.commits(stack.postgres, RUN_DB)
    extra_env = {"EMAIL_RATE_LIMIT": str(setup.rate_limit)} if setup.rate_limit else {}
    memory: dict[int, dict[str, float]] = {}
    sampler = sampling.Sampler(stack, RUN_DB) if setup.watch else None
    try:
        stack.start_product(
            logs_dir, tracking=False, extra_env=extra_env, workers=not setup.by_hand
        )
        if setup.by_hand:
            start_by_hand(stack)
        for replica in range(2, setup.email_replicas + 1):
            stack.start_email_worker(hostname=f"{socket.gethostname()}-{replica}")
        wait_consumers(stack, {"reports": 1, "email": setup.email_replicas})
        workers = {
            name: sampling.worker_settings(process.log_path)
            for name, process in stack.processes.items()
            if name.startswith("worker")
        }
        provider.reset()
        tally = sampling.Tally(provider)
        with sampler or contextlib.nullcontext():
            started, busy = time.monotonic(), busy_cpu_s()
            product.queue_fan_out()
            for mark in sorted({*setup.memory_at, count}):
                wait_for(
                    lambda mark=mark: tally.update() >= mark,
                    timeout=setup.timeout(mark),
                    interval=0.02,
                    what=f"{mark} of {count} emails at the stand-in provider",
                )
                if mark in setup.memory_at:
                    memory[mark] = {
                        name: round(sampling.rss_mb(process.pid), 1)
                        for name, process in stack.processes.items()
                        if name.startswith("worker")
                    }
                if mark == count:
                    cpu_ms = cpu_ms_each(busy, count)
                    seconds = tally.arrivals[count - 1] - started
        requests = provider.requests()
    finally:
        stack.stop_product()
        provider.latency, provider.rate_limit = saved
    tally.update()
    commits = sampling.commits(stack.postgres, RUN_DB) - commits_before
    result = {
        "reports": count,
        "seconds": round(seconds, 3),
        "per_s": round(count / seconds, 1),
        "cpu_ms_each": cpu_ms,
        "duplicates": tally.duplicates,
        "distinct_managers": len(tally.managers),
        "latency_s": setup.latency,
        "rate_limit": setup.rate_limit,
        "email_replicas": setup.email_replicas,
        "by_hand": setup.by_hand,
        "workers": workers,
        "requests": len(requests),
        "too_many": sum(1 for request in requests if request.reply.status == 429),
        "busiest_second": busiest_second([request.at for request in requests]),
        "commits_per_report": round(commits / count, 2),
        "worker_rss_mb": {str(mark): values for mark, values in memory.items()},
    }
    if sampler is not None:
        result["sampled"] = sampler.result()
    return result


# As the README says to start them by hand: the reports worker as Celery's documentation
# does, the email worker with the pool its startup warning asks for.
BY_HAND = {"reports": [], "email": ["--pool", "threads", "--concurrency", "16"]}


def start_by_hand(stack: Stack) -> None:
    """Both workers started by hand from backend/, with the product's environment and
    nothing ops/start/worker adds to it."""
    for queue, options in BY_HAND.items():
        argv = [str(VENV_BIN / "celery"), "-A", "core", "worker", "-Q", queue, *options]
        stack.start_process(f"worker-{queue}", argv, cwd=BACKEND_DIR)


def wait_consumers(stack: Stack, wanted: dict[str, int], timeout: float = 90) -> None:
    """The web server answers, and each queue has as many workers consuming it as
    `wanted` says. Asked by queue, not by node name: two workers started by hand on one
    host share the name celery@<host>."""
    from core.celery import app  # the product's, set up on this run's broker

    stack.wait_ready(queues=(), timeout=timeout)

    def ready() -> bool:
        for process in stack.processes.values():
            if not process.alive():
                raise StopWaiting(f"{process.name} exited:\n{process.tail()}")
        replies = app.control.broadcast("active_queues", reply=True, timeout=1.0)
        consumers = Counter(
            queue["name"] for reply in replies for queues in reply.values() for queue in queues
        )
        return all(consumers[queue] >= count for queue, count in wanted.items())

    wait_for(ready, timeout=timeout, interval=0.2, what=f"workers consuming {wanted}")


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the record."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
