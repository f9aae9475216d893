"""Real processes for the suite: redis-server and `celery worker` subprocesses."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import redis
from django.db import connection

from tests.support.waiting import StopWaiting, wait_for

REPO_DIR = Path(__file__).resolve().parents[2]
BACKEND_DIR = REPO_DIR / "backend"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def start_redis(workdir: Path, port: int | None = None):
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; `make test` installs it")
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=(workdir / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis.Redis.from_url(url).ping(), timeout=10, what="redis-server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def worker_database_url() -> str:
    """The test database as a DATABASE_URL, for worker processes (after django_db_setup)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        return (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    raise RuntimeError(f"no worker DATABASE_URL for {db['ENGINE']}")


# The pool each queue's worker runs in production (ops/start/worker), smaller.
POOLS = {"email": ("threads", 4), "reports": ("prefork", 1)}


class WorkerProcess:
    """One `celery -A core worker -Q <queue>` subprocess, in its queue's pool."""

    def __init__(
        self, app, queue: str, env: dict[str, str], log_path: Path, nodename: str | None = None
    ):
        pool, concurrency = POOLS.get(queue, ("prefork", 1))
        self.app = app
        self.queue = queue
        self.env = env
        self.log_path = log_path
        self.nodename = nodename or f"{queue}-{uuid.uuid4().hex[:8]}@test"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "core",
                "worker",
                "-Q",
                queue,
                "-n",
                self.nodename,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=BACKEND_DIR,
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers_ping, timeout=60, what=f"worker {self.nodename} to answer ping")

    def _answers_ping(self) -> bool:
        if self.process.poll() is not None:
            raise StopWaiting(f"worker {self.nodename} exited:\n{self.log()}")
        return bool(self.app.control.ping(destination=[self.nodename], timeout=0.5))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class WorkerPool:
    """At most one worker per queue; restarted when asked for other settings."""

    # Fast, deterministic settings for every worker unless a test overrides them.
    BASE_ENV = {
        "DJANGO_ENV": "development",
        "DJANGO_READ_DOT_ENV_FILE": "False",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_RETRY_BACKOFF": "1",
        "EMAIL_RETRY_BACKOFF_MAX": "1",
        "EMAIL_RETRY_MAX_RETRIES": "3",
        "LOG_LEVEL": "INFO",
    }

    def __init__(self, app, broker_url: str, workdir: Path):
        self.app = app
        self.workdir = workdir
        self.mail_dir = workdir / "mail"
        self.mail_dir.mkdir()
        self.common_env = {
            **os.environ,
            **self.BASE_ENV,
            "DATABASE_URL": worker_database_url(),
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "CELERY_BROKER_URL": broker_url,
            "PYTHONUNBUFFERED": "1",
        }
        self.workers: dict[str, WorkerProcess] = {}

    def ensure(self, queue: str, **settings: str) -> WorkerProcess:
        env = {**self.common_env, **settings}
        current = self.workers.get(queue)
        if current is not None and current.env == env and current.process.poll() is None:
            return current
        if current is not None:
            current.stop()
        log_path = self.workdir / f"{queue}-{len(list(self.workdir.glob('*.log')))}.log"
        self.workers[queue] = WorkerProcess(self.app, queue, env, log_path)
        return self.workers[queue]

    def stop(self, queue: str) -> None:
        """Stop the queue's worker, if one runs: its queue then fills up (the next
        `ensure` starts a new one)."""
        worker = self.workers.pop(queue, None)
        if worker is not None:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {w.nodename}\n{w.log()}" for w in self.workers.values())

    def stop_all(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
