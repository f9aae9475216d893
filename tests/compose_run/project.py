"""One compose file brought up as `docker compose up` would, on this machine: every
service starts once its depends_on conditions hold; ours (built from our Dockerfile) and
redis as containers (tests/compose_run/container.py), postgres and mailpit as stand-ins
(tests/compose_run/standins.py).

Up: a long-running service passes when its own health check passes within Docker's
patience (start_period + retries x interval + timeout) and it still runs when the whole
file is up; a one-shot one (others wait for it to complete) when it exits 0.

Refusing (`placeholders`: the example env file as it is): a container of ours passes when
it exits non-zero naming the placeholders it got (tests/compose_run/placeholders.py), a
service waiting for one that refused when it never starts; a service that starts with a
placeholder in what it gets fails.
"""

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.compose_run import placeholders as placeholder_rules
from tests.compose_run.container import Container, container_hostname
from tests.compose_run.image import Built
from tests.compose_run.standins import REDIS_ENTRYPOINT, REDIS_IMAGE, STAND_INS, kind_of
from tests.support.compose import PLACEHOLDER, one_shot_services
from tests.support.processes import REPO_DIR
from tests.support.waiting import StopWaiting, wait_for

# A one-shot service without a health check (migrate) may take this long.
ONE_SHOT_LIMIT = 300
POLL = 1.0  # seconds between two runs of a failing health check
PRINTING = threading.Lock()
# What a dependency's condition needs of it.
MEETS = {
    "service_started": {"started", "healthy", "completed"},
    "service_healthy": {"healthy"},
    "service_completed_successfully": {"completed"},
}


@dataclass
class Row:
    run: str
    service: str
    started: bool
    passed: bool
    seconds: float | None
    note: str


class Project:
    def __init__(
        self,
        label: str,
        model: dict,
        image: Built,
        scratch: Path,
        logs: Path,
        *,
        checkout: Path | None = None,
        variables: dict[str, str] | None = None,
        placeholders: set[str] | None = None,
    ):
        self.label = label
        self.model = model
        self.image = image
        self.scratch = scratch
        self.logs = logs
        # What stands for the project directory in bind mounts (`.:/app`).
        self.checkout = checkout
        # What compose interpolates with (the env file): the values of `environment:` secrets.
        self.variables = variables or {}
        self.placeholders = placeholders
        self.services = model["services"]
        self.one_shot = one_shot_services(model)
        self.hostnames = {name: container_hostname() for name in self.services}
        self.states: dict[str, str] = {}
        self.rows: dict[str, Row] = {}
        self.containers: dict[str, Container] = {}
        self.stand_ins = []
        self.changed = threading.Condition()

    @property
    def refusing(self) -> bool:
        return self.placeholders is not None

    # -- the whole file ---------------------------------------------------------------

    def run(self) -> list[Row]:
        self.logs.mkdir(parents=True, exist_ok=True)
        threads = [
            threading.Thread(target=self._service, args=(name,), daemon=True)
            for name in self.services
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            # Up means still up once everything is: a crash after a passing check counts.
            for name, container in self.containers.items():
                if self.states[name] == "healthy" and not container.alive():
                    row = self.rows[name]
                    row.passed = False
                    row.note = (
                        f"exited ({container.exit_status()}) after its health check "
                        f"passed: {container.last_words()}"
                    )
        finally:
            for container in self.containers.values():
                container.stop()
            for stand_in in self.stand_ins:
                stand_in.stop()
        return self.results()

    def results(self) -> list[Row]:
        """The rows so far (all of them once run() returned), in start order."""
        return [self.rows[name] for name in self._start_order() if name in self.rows]

    def _start_order(self) -> list[str]:
        """By how many services must be up before each one, then by name."""

        def depth(name: str) -> int:
            needs = self.services[name].get("depends_on") or {}
            return 1 + max((depth(other) for other in needs), default=0)

        return sorted(self.services, key=lambda name: (depth(name), name))

    def _finish(self, name: str, state: str, row: Row) -> None:
        with self.changed:
            self.states[name] = state
            self.rows[name] = row
            self.changed.notify_all()
        mark = "ok" if row.passed else "FAILED"
        with PRINTING:  # one line per event, whichever thread says it
            print(f"  {self.label} {name}: {state} ({mark}) {row.note}".rstrip(), flush=True)

    def _started(self, name: str) -> None:
        with self.changed:
            self.states[name] = "started"
            self.changed.notify_all()

    # -- one service ------------------------------------------------------------------

    def _service(self, name: str) -> None:
        service = self.services[name]
        try:
            blocked = self._wait_for_dependencies(name)
            if blocked:
                # Refusing: nothing that waits for a refusal may start, and nothing does.
                row = Row(self.label, name, False, self.refusing, None, blocked)
                self._finish(name, "skipped", row)
                return
            kind = kind_of(service)
            if kind in STAND_INS:
                self._stand_in(name, service, STAND_INS[kind])
                return
            if kind not in ("ours", "redis"):
                raise RuntimeError(f"no stand-in for the image {service.get('image')!r}")
            container = self._container(name, service, kind)
            self.containers[name] = container
            container.start()
            self._started(name)
            if self.refusing and kind == "ours":
                self._refuse(name, container)
            elif name in self.one_shot:
                self._complete(name, container)
            else:
                self._become_healthy(name, container)
        except Exception as error:  # the harness's own breakage, reported on the row
            self._finish(name, "failed", Row(self.label, name, False, False, None, repr(error)))

    def _wait_for_dependencies(self, name: str) -> str:
        """Wait until every depends_on condition holds; "" then, else why it never will."""
        conditions = {
            dependency: spec.get("condition", "service_started")
            for dependency, spec in (self.services[name].get("depends_on") or {}).items()
        }

        def decided() -> bool:  # each condition holds, or its service is done (a row)
            return all(
                self.states.get(d) in MEETS[c] or d in self.rows for d, c in conditions.items()
            )

        with self.changed:
            self.changed.wait_for(decided)
            for dependency, condition in conditions.items():
                if self.states[dependency] not in MEETS[condition]:
                    return f"not started: {dependency} {self.states[dependency]}"
        return ""

    def _holds_placeholder(self, service: dict) -> bool:
        given = [service.get("environment"), service.get("command"), self._secrets(service)]
        return self.refusing and PLACEHOLDER in json.dumps(given)

    def _stand_in(self, name: str, service: dict, kind) -> None:
        started = time.monotonic()
        files = {path: content for path, content, *_ in self._secrets(service)}
        stand_in = kind(service, self.scratch / "stand-ins" / name, files)
        self.stand_ins.append(stand_in)
        try:
            stand_in.start()
        except Exception as error:
            self._finish(name, "failed", Row(self.label, name, False, False, None, str(error)))
            return
        row = Row(self.label, name, True, True, time.monotonic() - started, "")
        row.note = f"stand-in: {stand_in.description}"
        self._judge_start(name, service, row)
        self._finish(name, "healthy", row)

    def _judge_start(self, name: str, service: dict, row: Row) -> None:
        """Refusing: a service that started with a placeholder in what it got fails."""
        if self._holds_placeholder(service):
            row.passed = False
            row.note = f"started with the example's '{PLACEHOLDER}' in what it gets; {row.note}"

    def _refuse(self, name: str, container: Container) -> None:
        status = container.wait(placeholder_rules.REFUSAL_LIMIT)
        refused, said = placeholder_rules.verdict(
            container.env, status, container.log_tail(60), self.placeholders
        )
        row = Row(self.label, name, True, refused, container.elapsed(), said)
        self._finish(name, "completed" if status == 0 else "failed", row)

    def _complete(self, name: str, container: Container) -> None:
        status = container.wait(ONE_SHOT_LIMIT)
        row = Row(self.label, name, True, status == 0, container.elapsed(), "")
        if status is None:
            row.note = f"still running after {ONE_SHOT_LIMIT} s: {container.last_words()}"
        elif status != 0:
            row.note = f"exited {status}: {container.last_words()}"
        else:
            row.note = "exited 0"
        self._finish(name, "completed" if status == 0 else "failed", row)

    def _become_healthy(self, name: str, container: Container) -> None:
        if container.healthcheck is None:
            row = Row(self.label, name, True, False, None, "no health check to pass")
            self._finish(name, "failed", row)
            return
        bound = container.health_bound()
        last = [""]

        def passes() -> bool:
            if not container.alive():
                raise StopWaiting(f"exited ({container.exit_status()})")
            if not container.entered():
                return False
            check = container.health_check()
            last[0] = check.output
            return check.passed

        try:
            wait_for(passes, timeout=bound, interval=POLL, what=f"{name}'s health check")
        except StopWaiting as stopped:
            note = f"{stopped}: {container.last_words()}"
            row = Row(self.label, name, True, False, container.elapsed(), note)
            self._finish(name, "failed", row)
            return
        except AssertionError:
            note = f"health check still failing after {bound:g} s: {last[0] or '(no output)'}"
            row = Row(self.label, name, True, False, container.elapsed(), note)
            self._finish(name, "failed", row)
            return
        note = "health check passed"
        if container.image is REDIS_IMAGE:
            note = "this machine's redis-server, the service's command and health check"
        row = Row(self.label, name, True, True, container.elapsed(), note)
        self._judge_start(name, container.service, row)
        self._finish(name, "healthy", row)

    # -- what a container is made of -----------------------------------------------------

    def _container(self, name: str, service: dict, kind: str) -> Container:
        image = self.image if kind == "ours" else REDIS_IMAGE
        files = self._secrets(service) + ([REDIS_ENTRYPOINT] if kind == "redis" else [])
        return Container(
            name,
            service,
            image,
            self.scratch / "containers" / name,
            self._mounts(name, service, image),
            self._hosts(),
            self.hostnames[name],
            self.logs / f"{name}.log",
            files,
        )

    def _secrets(self, service: dict) -> list[list]:
        """Compose's secrets as files in the container: [path, content, mode, uid, gid]."""
        files = []
        for secret in service.get("secrets") or []:
            source = self.model["secrets"][secret["source"]]
            if "environment" in source:
                content = self.variables.get(source["environment"], "")
            else:
                content = Path(source["file"]).read_text()
            target = secret.get("target") or secret["source"]
            path = target if target.startswith("/") else f"/run/secrets/{target}"
            mode = secret.get("mode", 0o444)
            mode = int(mode, 8) if isinstance(mode, str) else mode
            uid, gid = int(secret.get("uid") or 0), int(secret.get("gid") or 0)
            files.append([path, content, mode, uid, gid])
        return files

    def _hosts(self) -> str:
        """Docker's /etc/hosts plus what the compose network's DNS answers: every
        service name and container host name, all on loopback here."""
        names = " ".join([*self.services, *self.hostnames.values()])
        return (
            f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{names}\n"
        )

    def _mounts(self, name: str, service: dict, image: Built) -> list[list]:
        mounts = image.spec.stage_mounts()
        volumes = sorted(service.get("volumes") or [], key=lambda v: v["target"].count("/"))
        for number, volume in enumerate(volumes):
            if volume["type"] == "bind":
                source = self._bind_source(Path(volume["source"]))
            elif volume["type"] == "volume":
                key = volume.get("source") or f"{name}-anonymous-{number}"
                seed = image.path(volume["target"]) if image.seeds_volumes else None
                source = self._volume(key, seed)
            else:
                raise RuntimeError(f"{name}: no stand-in for a {volume['type']} mount")
            mounts.append([str(source), volume["target"], bool(volume.get("read_only"))])
        return mounts

    def _bind_source(self, source: Path) -> Path:
        """Bind mounts of the checkout read its stand-in (a copy); nothing else of this
        machine is mounted into a container."""
        if self.checkout is None or not source.is_relative_to(REPO_DIR):
            raise RuntimeError(f"bind mount of {source}: only the checkout may be mounted")
        target = self.checkout / source.relative_to(REPO_DIR)
        target.mkdir(parents=True, exist_ok=True)  # create_host_path, as compose does
        return target

    def _volume(self, key: str, seed: Path | None) -> Path:
        """A new volume starts as a copy of what the image has at its target (owner and
        mode included), as Docker fills an empty named or anonymous volume."""
        directory = self.scratch / "volumes" / key
        if directory.exists():
            return directory
        if seed is not None and seed.is_dir():
            shutil.copytree(seed, directory, symlinks=True)
            status = seed.stat()
            os.chown(directory, status.st_uid, status.st_gid)
            directory.chmod(status.st_mode & 0o7777)
        else:
            directory.mkdir(parents=True)
        return directory
