"""Health endpoints for probes: /healthz (the process answers) and /readyz (it can work)."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import redis_connection
from core.celery import app

logger = logging.getLogger(__name__)

# Seconds; a probe that hangs is as bad as one that fails.
CHECK_TIMEOUT = 2


@never_cache
@require_GET
def healthz(request):
    """Liveness: the process is up and serving requests. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Readiness: the database and the Redis broker answer. 503 names what failed
    and the error's type. Through Sentinel, `broker_master` says which Redis answered as
    the master (host:port)."""
    checks = {"database": check_database, "broker": check_broker}
    failed = {}
    found = {}
    for name, check in checks.items():
        try:
            if said := check():
                found.update(said)
        except Exception as exc:  # any failure means "not ready"; the body says which
            # The probe is public: the body names the error type only (messages can carry
            # host and user names); the log has the whole message.
            logger.warning("Readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            failed[name] = type(exc).__name__
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ok", "checks": dict.fromkeys(checks, "ok"), **found})


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> dict | None:
    url, options = app.conf.broker_url, app.conf.broker_transport_options or {}
    client = redis_connection.client_for(url, options, timeout=CHECK_TIMEOUT)
    try:
        client.ping()
        if redis_connection.is_sentinel(url):
            # Where the ping's connection went: the master Sentinel named for it.
            host, port = client.connection_pool.master_address
            return {"broker_master": f"{host}:{port}"}
        return None
    finally:
        redis_connection.close(client)
