"""Flower as a subprocess, started the way ops/ starts it: with ops/flower/flowerconfig.py."""

import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.processes import BACKEND_DIR, REPO_DIR, free_port
from tests.support.waiting import StopWaiting, wait_for

FLOWER_CONFIG = REPO_DIR / "ops" / "flower" / "flowerconfig.py"


def flower_command() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "core", "flower", f"--conf={FLOWER_CONFIG}"]


class FlowerProcess:
    """Always with credentials (FLOWER_BASIC_AUTH in `env`), as Flower runs everywhere;
    `auth` is the first pair, for requests (`get(path, auth=flower.auth)`)."""

    def __init__(self, env: dict[str, str], log_path: Path):
        user, password = env["FLOWER_BASIC_AUTH"].split(",")[0].split(":", 1)
        self.auth = (user, password)
        self.port = free_port()
        self.env = {**env, "FLOWER_PORT": str(self.port), "FLOWER_ADDRESS": "127.0.0.1"}
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            flower_command(),
            cwd=BACKEND_DIR,
            env=self.env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        # /healthcheck needs no credentials (nor do the containers' health checks).
        wait_for(self._answers, timeout=60, what="Flower to answer /healthcheck")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise StopWaiting(f"Flower exited:\n{self.log()}")
        return requests.get(f"{self.url}/healthcheck", timeout=2).ok

    def wait_for_events_from(self, nodename: str) -> None:
        """Wait until Flower receives the worker's events (its heartbeat, every 2s): a task
        sent before Flower's event consumer is listening would never show up in Flower."""
        wait_for(
            lambda: f'flower_worker_online{{worker="{nodename}"}} 1.0' in self.metrics(),
            timeout=30,
            what=f"Flower to receive events from {nodename}",
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=5, **kwargs)

    def metrics(self) -> str:
        """The Prometheus metrics, asked with the credentials a scraper sends."""
        response = self.get("/metrics", auth=self.auth)
        response.raise_for_status()
        return response.text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """Stop it the way a container runtime does (SIGTERM); its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode
