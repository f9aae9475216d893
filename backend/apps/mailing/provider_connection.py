"""The provider connection a worker process keeps between sends.

Django's `message.send()` opens a backend and closes it again: for Anymail's HTTP
backends that is a new requests session, so a new TCP (and TLS) connection to the
provider for every email. A worker sends one email after another, so it keeps one open
backend per process and thread and sends through it, and the HTTP connection is reused.

What keeps this as safe as a fresh connection per send:
- only Anymail's requests-based backends are kept (console, SMTP, file and test
  backends open per send, as Django's `message.send()` does: an idle SMTP connection goes
  stale quietly);
- a send that raised anything (a timeout, a dropped connection, the task's soft time
  limit, an error answer) discards the backend, so the next attempt starts afresh;
- a backend idle for longer than IDLE_SECONDS is discarded before use, well inside the
  idle time after which providers' load balancers close keep-alive connections;
- it belongs to the process and thread that opened it: a prefork pool process never
  uses a socket its parent opened, and a changed EMAIL_BACKEND or ANYMAIL setting (tests)
  starts afresh.
Every send still goes through the delivery's compare-and-set claim first
(apps.mailing.sending); only the socket is shared.
"""

import contextlib
import os
import threading
import time
from collections.abc import Iterator

from anymail.backends.base_requests import AnymailRequestsBackend
from django.conf import settings
from django.core.mail import get_connection
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

IDLE_SECONDS = 30.0

_local = threading.local()


@contextlib.contextmanager
def kept_backend() -> Iterator[object | None]:
    """The backend to send through (None: let the message open its own), discarded
    when the block raises."""
    backend = _open_or_reuse()
    try:
        yield backend
    except BaseException:
        discard()
        raise
    if backend is not None:
        _local.used_at = time.monotonic()


def _open_or_reuse():
    kept = getattr(_local, "backend", None)
    if kept is not None and (
        _local.pid != os.getpid() or time.monotonic() - _local.used_at > IDLE_SECONDS
    ):
        discard()
        kept = None
    if kept is None:
        if not issubclass(import_string(settings.EMAIL_BACKEND), AnymailRequestsBackend):
            return None
        candidate = get_connection()
        candidate.open()
        _local.backend, _local.pid, _local.used_at = candidate, os.getpid(), time.monotonic()
        kept = candidate
    return kept


def discard() -> None:
    """Close and forget this thread's backend; the next send opens a new one."""
    backend = getattr(_local, "backend", None)
    _local.backend = None
    if backend is not None and getattr(_local, "pid", None) == os.getpid():
        with contextlib.suppress(Exception):
            backend.close()


def _on_setting_changed(setting: str, **kwargs) -> None:
    if setting == "EMAIL_BACKEND" or setting.startswith("ANYMAIL"):
        discard()


setting_changed.connect(
    _on_setting_changed, dispatch_uid="mailing.provider_connection.setting_changed"
)
