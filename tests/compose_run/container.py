"""One service's container, as Docker would make it from the resolved compose model.

- the process: the service's entrypoint (else the image's ENTRYPOINT) and command
  (else the image's CMD), with the image's ENV, then compose's `environment` over it
  (the env file included, as `compose config` resolves it), HOSTNAME and HOME, as the
  image's USER in its WORKDIR;
- its file system: its own writable layer over the image, the image's virtualenv, the
  service's volumes (tests/compose_run/launch.py mounts them);
- a `docker exec`: nsenter into its mount and UTS namespaces and its root, then the
  same user, environment and working directory. The health check runs that way.
"""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.compose_run.image import LAUNCH, Built, account
from tests.faults.stack import tail
from tests.support.compose import seconds
from tests.support.processes import REPO_DIR


def unescaped(value: str) -> str:
    """What the container gets: `compose config` prints a literal $ as $$."""
    return value.replace("$$", "$")


# Docker's defaults for a healthcheck that leaves them out.
HEALTHCHECK_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}


def container_hostname() -> str:
    """Like Docker's: the first 12 hex digits of a container id."""
    return secrets.token_hex(6)


@dataclass
class Check:
    passed: bool
    output: str


class Container:
    def __init__(
        self,
        name: str,
        service: dict,
        image: Built,
        directory: Path,
        mounts: list[list],
        hosts: str,
        hostname: str,
        log_path: Path,
        files: list[list] | None = None,
    ):
        self.name = name
        self.service = service
        self.image = image
        self.directory = directory
        self.mounts = mounts
        self.hosts = hosts
        self.hostname = hostname
        self.log_path = log_path
        # [path, content, mode, uid, gid]: compose's secrets, an image's own scripts.
        self.files = files or []
        # network_mode: none, a network namespace of its own with loopback only.
        self.own_network = service.get("network_mode") == "none"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        spec = image.spec
        self.uid, self.gid, home = account(image.root, service.get("user") or spec.user)
        self.workdir = service.get("working_dir") or spec.workdir
        entrypoint = service.get("entrypoint")
        command = service.get("command")
        # A service's own entrypoint drops the image's CMD, as in Docker.
        argv = (entrypoint or spec.entrypoint) + (
            command if command is not None else ([] if entrypoint else spec.cmd)
        )
        self.argv = [unescaped(word) for word in argv]
        given = (service.get("environment") or {}).items()
        compose_env = {name: unescaped(value) for name, value in given if value is not None}
        self.env = {**spec.env, **compose_env, "HOSTNAME": hostname}
        self.env.setdefault("HOME", home)

    # -- the main process ----------------------------------------------------------

    def start(self) -> None:
        root = self.directory / "root"
        for part in ("root", "upper", "work"):
            (self.directory / part).mkdir(parents=True)
        spec = {
            "root": str(root),
            "lower": str(self.image.root),
            "upper": str(self.directory / "upper"),
            "work": str(self.directory / "work"),
            "mounts": self.mounts,
            "files": self.files,
            "loopback": self.own_network,
            "hostname": self.hostname,
            "hosts": self.hosts,
            "uid": self.uid,
            "gid": self.gid,
            "workdir": self.workdir,
            "argv": self.argv,
            "env": self.env,
        }
        spec_path = self.directory / "spec.json"
        spec_path.touch(mode=0o600)  # it holds the container's secrets
        spec_path.write_text(json.dumps(spec))
        self.started_at = time.monotonic()
        namespaces = ["--mount", "--uts", *(["--net"] if self.own_network else [])]
        self.process = subprocess.Popen(
            ["unshare", *namespaces, "--", *LAUNCH, str(spec_path)],
            cwd=REPO_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_status(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def entered(self) -> bool:
        """The launcher has set the container up and exec'd its command."""
        with contextlib.suppress(OSError):
            return os.readlink(f"/proc/{self.pid}/root") != "/"
        return False

    def wait(self, timeout: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=timeout)
        return None

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the container's processes, SIGKILL to what is left after `grace`."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        self.wait(grace)
        self._signal(signal.SIGKILL)  # what is left of it (the worker's watchdog, ...)
        self.wait(10)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def last_words(self) -> str:
        """The last line it printed: the message of a refusal, a traceback's error."""
        lines = [line.strip() for line in self.log_tail(40).splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"

    # -- docker exec and the health check -----------------------------------------------

    def exec(self, argv: list[str], timeout: float) -> Check:
        command = [
            "nsenter", f"--target={self.pid}", "--mount", "--uts", "--root",
            f"--wdns={self.workdir}", "--",
            "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--",
            *argv,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, env=self.env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return Check(False, f"took longer than its timeout ({timeout:g} s)")
        output = (done.stdout + done.stderr).strip()
        return Check(done.returncode == 0, output.splitlines()[-1] if output else "")

    @property
    def healthcheck(self) -> dict | None:
        check = self.service.get("healthcheck")
        if not check or check.get("disable") or check.get("test", ["NONE"])[0] == "NONE":
            return None
        return {**HEALTHCHECK_DEFAULTS, **check}

    def health_bound(self) -> float:
        """Docker's patience: the start period, then `retries` failures `interval` apart,
        each allowed its `timeout`."""
        check = self.healthcheck
        interval, timeout = seconds(check["interval"]), seconds(check["timeout"])
        return seconds(check["start_period"]) + check["retries"] * interval + timeout

    def health_check(self) -> Check:
        check = self.healthcheck
        kind, *rest = [unescaped(word) for word in check["test"]]
        argv = ["/bin/sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
        return self.exec(argv, seconds(check["timeout"]))
