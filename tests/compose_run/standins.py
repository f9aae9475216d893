"""Stand-ins for the services that are not built from our image, on loopback inside the
harness's network namespace, at the ports the compose URLs name:

- redis    this machine's redis-server with the service's own command (its persistence,
           its --requirepass), data in the service's volume;
- postgres a private PostgreSQL cluster (tests/faults/stack.py) with the service's
           POSTGRES_USER, POSTGRES_PASSWORD (asked for over TCP) and POSTGRES_DB;
- mailpit  the suite's SMTP server (tests/support/fake_smtp.py) on Mailpit's SMTP port.

Each is "healthy" when it answers as the app will use it, not by its image's own check.
"""

import contextlib
import shutil
import subprocess
from pathlib import Path

import redis
from psycopg import sql

from tests.faults.stack import Postgres, tail
from tests.support.fake_smtp import FakeSMTP
from tests.support.waiting import StopWaiting, wait_for

REDIS_PORT = 6379  # the redis image's default; compose's URLs say redis:6379
POSTGRES_PORT = 5432
MAILPIT_SMTP_PORT = 1025


class RedisStandIn:
    description = "this machine's redis-server with the service's command"

    def __init__(self, service: dict, workdir: Path):
        self.command = [shutil.which(service["command"][0]) or "redis-server"]
        self.command += [*service["command"][1:], "--dir", str(workdir), "--daemonize", "no"]
        arguments = service["command"]
        self.password = (
            arguments[arguments.index("--requirepass") + 1]
            if "--requirepass" in arguments
            else None
        )
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.ping, timeout=30, what="redis-server to answer")

    def ping(self) -> bool:
        if self.process.poll() is not None:
            raise StopWaiting(f"redis-server exited:\n{tail(self.log_path)}")
        client = redis.Redis(port=REDIS_PORT, password=self.password, socket_timeout=1)
        with contextlib.closing(client):
            return bool(client.ping())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class PostgresStandIn:
    description = "a private PostgreSQL cluster with the service's user, password, db"

    def __init__(self, service: dict, workdir: Path):
        env = service.get("environment") or {}
        self.user = env.get("POSTGRES_USER") or "postgres"
        self.password = env["POSTGRES_PASSWORD"]
        self.database = env.get("POSTGRES_DB") or self.user
        self.cluster = Postgres(workdir, POSTGRES_PORT)

    def start(self) -> None:
        self.cluster.init()
        # The app's role proves its password over TCP, as with the postgres image; the
        # harness's own superuser connection stays trusted (the first matching line wins).
        hba = self.cluster.data / "pg_hba.conf"
        rules = "".join(
            f"host all {self.user} {address} scram-sha-256\n"
            for address in ("127.0.0.1/32", "::1/128")
        )
        hba.write_text(rules + hba.read_text())
        self.cluster.start()
        statements = [
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(self.password)
            ),
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.user)
            ),
        ]
        self.cluster.admin(*statements)

    def stop(self) -> None:
        self.cluster.stop()


class MailpitStandIn:
    description = "the suite's SMTP server on Mailpit's port"

    def __init__(self, service: dict, workdir: Path):
        self.smtp: FakeSMTP | None = None

    def start(self) -> None:
        self.smtp = FakeSMTP(port=MAILPIT_SMTP_PORT).__enter__()

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.__exit__(None, None, None)


# By the image a service runs (its name before the tag).
STAND_INS = {"redis": RedisStandIn, "postgres": PostgresStandIn, "axllent/mailpit": MailpitStandIn}


def stand_in_for(service: dict, workdir: Path):
    kind = STAND_INS.get(service.get("image", "").split(":")[0])
    if kind is None:
        raise RuntimeError(f"no stand-in for the image {service.get('image')!r}")
    return kind(service, workdir)
