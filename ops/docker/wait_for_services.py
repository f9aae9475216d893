"""Wait until the database and the Redis broker answer, or stop with a clear message.

    python ops/docker/wait_for_services.py --timeout 60

Run by ops/docker/entrypoint before every container command, and on its own (with a
short timeout) as beat's health check: beat has nothing to ping, but it is of no use
without the database (its schedule) and the broker (where it sends tasks).
Reads the same settings as the app (DATABASE_URL, CELERY_BROKER_URL, through Sentinel
the master set too: core/redis_connection.py); prints hosts,
never passwords. Exit status 0 when both answer, 1 otherwise.

It signs nothing, so it needs no DJANGO_SECRET_KEY: without one (Flower's container
gets none) the settings load with a throwaway key. A key that is set but weak is still
refused here, before anything waits.
"""

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parents[2] / "backend"


def describe_database(database: dict) -> str:
    host = database.get("HOST") or "localhost"
    port = database.get("PORT") or "default port"
    return f"the database {database.get('NAME')!r} at {host}:{port}"


def check_database() -> None:
    from django.db import connections

    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


def check_broker(url: str, options: dict) -> None:
    from core import redis_connection

    client = redis_connection.client_for(url, options, timeout=3)
    try:
        client.ping()
    finally:
        redis_connection.close(client)


def wait(what: str, check, deadline: float, hint: str) -> bool:
    waiting_said = False
    while True:
        try:
            check()
        except Exception as error:  # any failure means "not yet"; the last one is reported
            if time.monotonic() >= deadline:
                print(
                    f"wait_for_services: gave up waiting for {what}: {error}\n"
                    f"wait_for_services: {hint}",
                    file=sys.stderr,
                )
                return False
            if not waiting_said:
                print(f"wait_for_services: waiting for {what} ...", file=sys.stderr)
                waiting_said = True
            time.sleep(1)
        else:
            if waiting_said:
                print(f"wait_for_services: {what} is up", file=sys.stderr)
            return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60, help="seconds in all (default 60)")
    args = parser.parse_args()

    sys.path.insert(0, str(BACKEND_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    # Production settings require a key; this process signs nothing with it, and the
    # command that follows loads the settings itself, with the container's own key or none.
    if not os.environ.get("DJANGO_SECRET_KEY"):
        os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        database = settings.DATABASES["default"]
        broker_url = settings.CELERY_BROKER_URL
        broker_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    except ImproperlyConfigured as error:
        print(f"wait_for_services: the settings do not load: {error}", file=sys.stderr)
        return 1

    deadline = time.monotonic() + args.timeout
    ok = True
    if database["ENGINE"] != "django.db.backends.sqlite3":  # a file: nothing to wait for
        ok = wait(
            describe_database(database),
            check_database,
            deadline,
            "is the database service running and healthy, and is DATABASE_URL right?",
        )
    from core import redis_connection

    if ok and redis_connection.is_redis(broker_url):
        ok = wait(
            redis_connection.describe(broker_url, broker_options),
            lambda: check_broker(broker_url, broker_options),
            deadline,
            "is the redis service running, and does CELERY_BROKER_URL carry its password "
            "(through Sentinel: CELERY_BROKER_SENTINEL_MASTER and _PASSWORD)?",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
