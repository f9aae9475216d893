"""ops/scripts/worker-watchdog.sh: a worker that no longer answers pings is stopped, so
that its supervisor starts a fresh one; one that answers is left alone."""

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from celery.utils.nodenames import host_format

from tests.faults.stack import parent_of
from tests.support.processes import REPO_DIR
from tests.support.waiting import StopWaiting, wait_for

WATCHDOG = REPO_DIR / "ops" / "scripts" / "worker-watchdog.sh"

pytestmark = pytest.mark.integration


def watchdog(queue: str, pid: int, redis_url: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(WATCHDOG), queue, str(pid)],
        env={
            **os.environ,
            "CELERY_BROKER_URL": redis_url,
            "WORKER_WATCHDOG_INTERVAL": "1",
            "WORKER_HEALTHCHECK_TIMEOUT": "3",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_that_does_not_answer_is_stopped(redis_url):
    # Stands in for a stalled worker: alive, and no node of that name answers.
    stalled = subprocess.Popen(["sleep", "300"])
    dog = watchdog("stalled-queue", stalled.pid, redis_url)
    try:
        wait_for(lambda: stalled.poll() is not None, timeout=90, what="the watchdog to stop it")
        assert stalled.returncode == -15  # SIGTERM first
        _, err = dog.communicate(timeout=30)
        assert "did not answer a ping (3 in a row)" in err
        assert "stopping worker" in err
    finally:
        stalled.kill()
        dog.kill()


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_answers_is_left_alone_and_the_watchdog_ends_with_it(worker_pool, redis_url):
    worker = worker_pool.ensure("reports")
    queue, host = worker.nodename.split("@")
    # The healthcheck pings <queue>@$(hostname): give it this worker's host part.
    fake_bin = worker_pool.workdir / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "hostname").write_text(f"#!/bin/sh\necho {host}\n")
    (fake_bin / "hostname").chmod(0o755)
    stand_in = subprocess.Popen(["sleep", "300"])
    dog = watchdog(queue, stand_in.pid, redis_url, PATH=f"{fake_bin}:{os.environ['PATH']}")
    try:
        # Several rounds of pings (one a second), all answered: nothing is stopped.
        with pytest.raises(subprocess.TimeoutExpired):
            dog.wait(timeout=8)
        assert stand_in.poll() is None
        stand_in.kill()
        stand_in.wait()
        _, err = dog.communicate(timeout=30)  # it ends once the worker has gone
        assert dog.returncode == 0
        assert "did not answer" not in err
    finally:
        stand_in.kill()
        dog.kill()


# HOW `make run` STARTS IT: ops/Procfile's line, from the repo root, a relative path
# ------------------------------------------------------------------------------


def procfile_command(name: str) -> str:
    """ops/Procfile's command for `name`, which honcho runs with /bin/sh from the repo root."""
    for line in (REPO_DIR / "ops" / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"ops/Procfile has no {name} process")


def arguments_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except OSError:
        return []


def descendants_of(root: int) -> dict[int, list[str]]:
    """Every process under `root` (itself included), with its arguments."""
    parents = {
        int(entry.name): parent_of(int(entry.name))
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
    }
    found = {root}
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    return {pid: arguments_of(pid) for pid in found}


def watchdog_beside_the_worker(root: int, queue: str) -> tuple[int, int] | None:
    """(watchdog pid, worker pid) once ops/start/worker's watchdog runs, given the pid
    of the celery worker it watches."""
    processes = descendants_of(root)
    for pid, argv in processes.items():
        if any(arg.endswith("/worker-watchdog.sh") for arg in argv) and argv[-2] == queue:
            watched = int(argv[-1])
            if "worker" in processes.get(watched, []) and "celery" in " ".join(processes[watched]):
                return pid, watched
    return None


@pytest.mark.django_db(transaction=True)
def test_make_runs_worker_has_its_watchdog_beside_it(worker_pool, live_broker, tmp_path):
    """ops/Procfile runs `ops/start/worker email` from the repo root: the script's
    relative $0 must still find the watchdog after it has changed to backend/."""
    stderr_path = tmp_path / "worker.stderr"
    started = subprocess.Popen(
        ["/bin/sh", "-c", procfile_command("worker-email")],
        cwd=REPO_DIR,
        env={**worker_pool.common_env, "WORKER_WATCHDOG_INTERVAL": "1"},
        stdout=subprocess.DEVNULL,
        stderr=stderr_path.open("w"),
        start_new_session=True,  # its own process group, to end whatever is left of it
    )
    node = host_format("email@%h")

    def answering_with_its_watchdog():
        if started.poll() is not None or "No such file" in stderr_path.read_text():
            raise StopWaiting(
                f"the worker exited or its watchdog did not start:\n{stderr_path.read_text()}"
            )
        found = watchdog_beside_the_worker(started.pid, "email")
        return found if found and live_broker.control.ping([node], timeout=0.5) else None

    try:
        dog, watched = wait_for(answering_with_its_watchdog, timeout=90, what="worker and watchdog")
        assert "No such file" not in stderr_path.read_text()
        # A worker's exit ends its watchdog too (it checks the pid between pings).
        os.kill(watched, signal.SIGTERM)
        assert started.wait(timeout=60) == 0, stderr_path.read_text()
        wait_for(lambda: not arguments_of(dog), timeout=30, what="the watchdog to end")
        assert "No such file" not in stderr_path.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.pid, signal.SIGKILL)
        started.wait(timeout=10)
