"""The services that are not built from our image, on loopback inside the harness's
network namespace, at the ports the compose URLs name:

- redis    a container like ours, its "image" this machine's root with its redis-server:
           the service's own command, secrets, volume and health check, run as written;
- postgres a private PostgreSQL cluster (tests/faults/stack.py) with the service's
           POSTGRES_USER, POSTGRES_DB and password (POSTGRES_PASSWORD or the secret file
           POSTGRES_PASSWORD_FILE names), asked for over TCP; healthy once that login works;
- mailpit  the suite's SMTP server (tests/support/fake_smtp.py) on Mailpit's SMTP port,
           healthy once it listens.
"""

from pathlib import Path

import psycopg
from psycopg import sql

from tests.compose_run.dockerfile import Image
from tests.compose_run.image import Built
from tests.faults.stack import Postgres
from tests.support.fake_smtp import FakeSMTP
from tests.support.waiting import wait_for

POSTGRES_PORT = 5432
MAILPIT_SMTP_PORT = 1025  # the image's SMTP port; docker-compose.yml's EMAIL_PORT

# redis:7.2-bookworm's configuration, with this machine's root (its redis-server and
# redis-cli) below the container's own layer.
REDIS_IMAGE = Built(
    Image(
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        workdir="/data",
        user="root",
        entrypoint=["docker-entrypoint.sh"],
        cmd=["redis-server"],
    ),
    Path("/"),
    seeds_volumes=False,  # the image's /data is empty
)
# The image's docker-entrypoint.sh hands /data to the redis user and drops to it; the
# stand-in runs the command as it is, as root.
REDIS_ENTRYPOINT = ["/usr/local/bin/docker-entrypoint.sh", '#!/bin/sh\nexec "$@"\n', 0o755, 0, 0]


def kind_of(service: dict) -> str:
    """ "ours" (built from our Dockerfile), else the image's name without its tag."""
    return "ours" if "build" in service else service.get("image", "").split(":")[0]


class PostgresStandIn:
    description = "a private PostgreSQL cluster, the service's user, password and database"

    def __init__(self, service: dict, workdir: Path, files: dict[str, str]):
        env = service.get("environment") or {}
        self.user = env.get("POSTGRES_USER") or "postgres"
        self.database = env.get("POSTGRES_DB") or self.user
        if env.get("POSTGRES_PASSWORD_FILE"):
            self.password = files[env["POSTGRES_PASSWORD_FILE"]].strip()
        else:
            self.password = env["POSTGRES_PASSWORD"]
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
        self.cluster.admin(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(self.password)
            ),
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.user)
            ),
        )
        wait_for(self.login, timeout=30, what="PostgreSQL to take the service's password")

    def login(self) -> bool:
        with psycopg.connect(
            host="127.0.0.1",
            port=POSTGRES_PORT,
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout=3,
        ) as connection:
            return connection.execute("SELECT 1").fetchone() == (1,)

    def stop(self) -> None:
        self.cluster.stop()


class MailpitStandIn:
    description = "the suite's SMTP server on Mailpit's SMTP port"

    def __init__(self, service: dict, workdir: Path, files: dict[str, str]):
        self.smtp: FakeSMTP | None = None

    def start(self) -> None:
        self.smtp = FakeSMTP(port=MAILPIT_SMTP_PORT).__enter__()

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.__exit__(None, None, None)


STAND_INS = {"postgres": PostgresStandIn, "axllent/mailpit": MailpitStandIn}
