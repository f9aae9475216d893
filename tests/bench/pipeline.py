"""Throughput, measured from outside: the bare Celery chain and the product's pipeline.

Both are timed from the first publish to the last completion, seen by the harness: the
baseline's Redis counter reaching N, the product's Nth email accepted by the stand-in
Postmark (its own arrival time). Workers are started and answering before the clock
starts; nothing is warmed up in either.
"""

import os
import time
from collections import Counter
from pathlib import Path

import redis

from tests.bench import bare
from tests.bench.memory import status_mb
from tests.faults import product
from tests.faults.stack import RUN_DB, VENV_BIN, Stack, children_of
from tests.support.processes import REPO_DIR
from tests.support.waiting import wait_for

CONCURRENCY = "2"  # ops/start/worker's default, which `make run` uses


def rss_mb(pid: int) -> float:
    """Resident memory of a Celery worker: its main process and its pool processes."""
    total = 0.0
    for each in (pid, *children_of(pid)):
        try:
            if b"celery" in Path(f"/proc/{each}/cmdline").read_bytes():  # not the watchdog
                total += status_mb("VmRSS", each)
        except OSError:
            continue  # a pool process recycled meanwhile
    return total


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


def run_product(
    stack: Stack, template: str, count: int, logs_dir: Path, memory_at: tuple[int, ...] = ()
) -> dict:
    """Last month's fan-out over `count` seeded managers, to the provider's Nth email.

    `memory_at`: after how many accepted emails to read the workers' memory.
    """
    product.close()
    stack.postgres.copy(template, RUN_DB)
    stack.redis.flush()
    logs_dir.mkdir(parents=True, exist_ok=True)
    stack.start_product(logs_dir, tracking=False)
    memory: dict[int, dict[str, float]] = {}
    try:
        stack.wait_ready()
        stack.provider.reset()
        started, busy = time.monotonic(), busy_cpu_s()
        product.queue_fan_out()
        for mark in sorted({*memory_at, count}):
            wait_for(
                lambda mark=mark: len(stack.provider.accepted) >= mark,
                timeout=120 + mark / 5,
                interval=0.02,
                what=f"{mark} of {count} emails at the stand-in provider",
            )
            if mark in memory_at:
                memory[mark] = {
                    name: round(rss_mb(stack.processes[name].pid), 1)
                    for name in ("worker-reports", "worker-email")
                }
            if mark == count:
                cpu_ms = cpu_ms_each(busy, count)
        accepted = stack.provider.accepted
        seconds = accepted[count - 1].at - started
    finally:
        stack.stop_product()
    managers = Counter(request.json.get("Metadata", {}).get("manager_id") for request in accepted)
    return {
        "reports": count,
        "seconds": round(seconds, 3),
        "per_s": round(count / seconds, 1),
        "cpu_ms_each": cpu_ms,
        "duplicates": sum(n - 1 for n in managers.values()),
        "distinct_managers": len(managers),
        "worker_rss_mb": {str(mark): values for mark, values in memory.items()},
    }


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the record."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
