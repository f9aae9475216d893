"""ops/scripts/worker-watchdog.sh: a worker that no longer answers pings is stopped, so
that its supervisor starts a fresh one; one that answers is left alone."""

import os
import subprocess

import pytest

from tests.support.processes import REPO_DIR
from tests.support.waiting import wait_for

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
