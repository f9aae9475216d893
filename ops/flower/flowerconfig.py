"""Flower configuration: `celery -A core flower --conf=ops/flower/flowerconfig.py`.

Flower executes this file and applies every top-level name that is one of its options
(https://flower.readthedocs.io/en/latest/config.html), so helpers here start with `_`.
Values come from the environment (and `var/run.env` and the repo's `.env`, real
variables winning, as in core/settings.py); each variable is listed in `.env.example`.
Options given on the command line still win over this file.
"""

import logging as _logging
from pathlib import Path

import environ

# Importable here: `celery -A core flower` has imported the `core` package (backend/).
from core import credentials as _credentials_rules
from core.celery import app as _celery_app
from patches import flower as _flower_patches

_REPO_DIR = Path(__file__).resolve().parents[2]
_env = environ.Env()
if _env.bool("DJANGO_READ_DOT_ENV_FILE", default=True):
    for _local_file in (_REPO_DIR / "var" / "run.env", _REPO_DIR / ".env"):
        if _local_file.is_file():
            _env.read_env(_local_file)


def _setting(name: str, default, cast=str):
    """The variable's value, or `default` when it is unset or empty (as in .env.example)."""
    value = _env.str(name, default="").strip()
    return cast(value) if value else default


_PRODUCTION = _setting("DJANGO_ENV", "development") == "production"

# Authentication: HTTP basic auth, "user:password" pairs separated by commas. Flower
# shows every task's arguments and results and can revoke tasks and shut workers down,
# so it never runs open, in development either: `make run` makes a password (kept in
# var/run.env) and docker-compose.yml passes one.
_credentials = [pair.strip() for pair in _setting("FLOWER_BASIC_AUTH", "").split(",")]
_credentials = [pair for pair in _credentials if pair]
if any(":" not in pair for pair in _credentials):
    raise RuntimeError("FLOWER_BASIC_AUTH must be user:password pairs separated by commas")
if not _credentials:
    raise RuntimeError(
        "FLOWER_BASIC_AUTH is required: set it to user:password (Flower refuses to start "
        "without authentication; in development `make run` and docker compose set one)"
    )
# The rule the settings apply to the webhook's password too (core/credentials.py).
_weak = _credentials_rules.weak_password_users(_credentials)
if _PRODUCTION and _weak:
    raise RuntimeError(
        f"FLOWER_BASIC_AUTH has a placeholder or short password for {', '.join(_weak)}: use "
        f"{_credentials_rules.MIN_PASSWORD_LENGTH} characters or more, with no "
        f"{' or '.join(_credentials_rules.KNOWN_PASSWORDS)} in it, e.g. "
        f"{_credentials_rules.generate_command(32)}"
    )
basic_auth = _credentials

# /metrics behind the same credentials (Flower serves it open): a patch of Flower's
# routes, kept apart in backend/patches/ (its notes say why and for which versions).
_flower_patches.apply()
# Through Sentinel, the Broker page asks every Sentinel for the master, not only the
# first: a patch of Flower's Sentinel client, in the same module.
_flower_patches.ask_every_sentinel(_celery_app.conf.broker_url)

# Production Flower watches and never acts: no running, revoking or terminating tasks,
# no worker shutdown, pool or rate-limit changes (its API answers 403). Re-running
# work goes through the Django admin, behind a permission, and is recorded there.
read_only = _PRODUCTION

# Where to listen. Open to the network by default only in production, where the
# password must be a strong one; the development container passes FLOWER_ADDRESS.
port = _setting("FLOWER_PORT", 5555, int)
address = _setting("FLOWER_ADDRESS", "0.0.0.0" if _PRODUCTION else "127.0.0.1")  # noqa: S104
# Behind a proxy that serves Flower under /<prefix>/ (empty: at the root); the proxy
# forwards the path unchanged.
url_prefix = _setting("FLOWER_URL_PREFIX", "").strip("/")

# Persistent state: the task history survives a restart. It is saved periodically
# (milliseconds), not only at a clean shutdown, so a crash loses little.
_state_file = Path(_setting("FLOWER_STATE_FILE", _REPO_DIR / "var" / "flower" / "state"))
_state_file.parent.mkdir(parents=True, exist_ok=True)
persistent = True
db = str(_state_file)
state_save_interval = _setting("FLOWER_STATE_SAVE_INTERVAL", 60_000, int)

# Memory stays flat: Flower forgets the oldest tasks beyond this many, and workers
# that have been offline this long (seconds; replaced containers get new host names).
max_tasks = _setting("FLOWER_MAX_TASKS", 10_000, int)
purge_offline_workers = _setting("FLOWER_PURGE_OFFLINE_WORKERS", 24 * 60 * 60, int)

# Prometheus metrics: Flower 2.x always serves them at /metrics, here behind basic auth
# (above): a scraper sends the same credentials.

# The task list: which task (its uuid, the link to its page /task/<id>, where the name,
# worker, runtime and traceback are), how it went, for whom (args, and kwargs: the shell's
# `.delay(user_id=3)` shows only there) and when, within a 1,400 px window. Widths there
# (Debian's Chromium; the table's box is 1,350 px): uuid 400, state 92, received 226,
# args 75-422 (a resend key), kwargs 75-210 (`user_id=`). The dotted name (590, report task)
# does not fit beside them, nor does a shortened one (`format_task` would also show it
# shortened on the task page): filter by name in the search box (`name:send_email`).
# `received` stays: the list sorts by it, newest first (without it, by the first column).
# tests/integration/test_flower.py measures the fit in a browser.
tasks_columns = "uuid,state,args,kwargs,received"


class _NoWorkersYet(_logging.Filter):
    """Flower asks the workers about themselves as it starts; those that are not up yet
    do not answer, and Flower logs "Inspect method ... failed" as if something broke.
    Real failures (with an exception) still show."""

    def filter(self, record: _logging.LogRecord) -> bool:
        return record.msg != "Inspect method %s failed"


_logging.getLogger("flower.inspector").addFilter(_NoWorkersYet())
