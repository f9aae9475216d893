"""The tracking webhook under load: gunicorn as production starts it, Postmark's
Delivery events posted at /anymail/postmark/tracking/ by many clients at once.

`run` (in the harness): seeds deliveries the provider has accepted, starts
`ops/start/web` with DJANGO_ENV=production and no env file, only the variables the
production settings insist on (gunicorn from .venv, or where it has none, from
var/venvs/prod, the image's build stage, which ops/scripts/bench.sh then makes), then
runs the load in its own process:
`python -m tests.bench.webhooks LOAD.json OUT.json`, CONCURRENCY threads, one
requests session each, one Delivery event per delivery. Every answer must be 2xx and
every delivery delivered afterwards.
"""

import json
import math
import os
import secrets
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.faults import product
from tests.faults.stack import (
    BASE_DB,
    PASSED_ON,
    RUN_DB,
    START_DIR,
    VENV_BIN,
    ProductProcess,
    Stack,
    children_of,
)
from tests.support.fake_provider import Received, Reply
from tests.support.processes import REPO_DIR
from tests.support.waiting import StopWaiting, wait_for

PROD_VENV_BIN = REPO_DIR / "var" / "venvs" / "prod" / "bin"
# ops/start/web binds 0.0.0.0:8000 in production; nothing here can move it.
PORT = 8000
HOST = "127.0.0.1"
CONCURRENCY = 32
# Production sits behind a TLS proxy that says so in this header, which the settings
# trust (SECURE_PROXY_SSL_HEADER); without it every post would be redirected to https.
HEADERS = {"X-Forwarded-Proto": "https"}


def gunicorn_bin() -> Path:
    """The virtualenv bin directory with gunicorn: .venv's, else the build stage's."""
    for directory in (VENV_BIN, PROD_VENV_BIN):
        if (directory / "gunicorn").is_file():
            return directory
    raise RuntimeError(
        "no gunicorn in .venv or var/venvs/prod: ops/scripts/bench.sh makes the latter "
        "(ops/scripts/build-stage-venv.sh prod var/venvs/prod)"
    )


def production_env(stack: Stack, secret: str) -> dict[str, str]:
    """What production's settings require, and the tracking webhook on; nothing else."""
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    return {
        **env,
        "PATH": f"{gunicorn_bin()}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "DJANGO_ENV": "production",
        "DJANGO_READ_DOT_ENV_FILE": "False",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": stack.postgres.url(RUN_DB),
        # The tracking view answers only for the provider EMAIL_BACKEND sends through.
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "EMAIL_TRACKING_ENABLED": "True",
        "ANYMAIL_WEBHOOK_SECRET": secret,
    }


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As gunicorn binds: a closed connection's TIME_WAIT does not stop it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # Where gunicorn will bind, only to see whether it can; closed at once.
            sock.bind(("0.0.0.0", port))  # noqa: S104
        except OSError:
            return False
    return True


def delivery_events(count: int) -> list[dict]:
    """One Delivery event per seeded delivery, as the stand-in Postmark words them."""
    from tests.bench.seed import seed_sent_deliveries

    events = []
    for sent in seed_sent_deliveries(count, tag="hook"):
        email = {"To": sent["To"], "MessageStream": "outbound", "Metadata": sent["Metadata"]}
        accepted = Received("/email", {}, email, Reply(), message_id=sent["MessageID"])
        events.append(accepted.delivery_event())
    return events


def run(stack: Stack, count: int, logs_dir: Path, extra_env: dict[str, str] | None = None) -> dict:
    """`count` events through gunicorn; `extra_env` on top of production's variables."""
    gunicorn_bin()  # before anything is seeded
    if not port_free(PORT):
        raise RuntimeError(f"port {PORT} is taken; ops/start/web binds 0.0.0.0:{PORT}")
    product.close()
    stack.postgres.copy(BASE_DB, RUN_DB)
    logs_dir.mkdir(parents=True, exist_ok=True)
    events = delivery_events(count)
    product.close()
    user, password = "postmark", secrets.token_urlsafe(24)
    env = {**production_env(stack, f"{user}:{password}"), **(extra_env or {})}
    web = ProductProcess("web", [str(START_DIR / "web")], env, logs_dir / "web-gunicorn.log")
    stack.processes["web"] = web  # stop_product stops it, whatever happens
    load_path, out_path = stack.root / "webhook-load.json", stack.root / "webhook-out.json"
    try:
        wait_for(
            lambda: answers(web),
            timeout=90,
            interval=0.2,
            what="gunicorn (ops/start/web) to answer /healthz",
        )
        url = f"http://{HOST}:{PORT}/anymail/postmark/tracking/"
        load = {"url": url, "auth": [user, password], "concurrency": CONCURRENCY}
        load_path.write_text(json.dumps({**load, "events": events}))
        stack.python(
            ["-m", "tests.bench.webhooks", str(load_path), str(out_path)],
            stack.product_env(),
            "webhook-load.log",
            timeout=120 + count * 0.2,
        )
        outcome = json.loads(out_path.read_text())
        boots = web.log_path.read_text(errors="replace").count("Booting worker with pid")
        workers = len(children_of(web.pid))
    finally:
        stack.stop_product()
    from apps.mailing.models import EmailDelivery

    delivered = EmailDelivery.objects.filter(status=EmailDelivery.Status.DELIVERED).count()
    product.close()
    return {
        **outcome,
        "delivered": delivered,
        "gunicorn_workers": workers,
        # Each recycled worker (--max-requests) is booted again: boots beyond the workers.
        "gunicorn_restarts": boots - workers,
    }


def answers(web: ProductProcess) -> bool:
    if not web.alive():
        raise StopWaiting(f"gunicorn exited:\n{web.tail()}")
    return requests.get(f"http://{HOST}:{PORT}/healthz", timeout=2).status_code == 200


def post_all(url: str, auth: tuple[str, str], events: list[dict], concurrency: int) -> dict:
    """Every event posted once, `concurrency` at a time; each one's status and latency."""
    local = threading.local()

    def post(event: dict) -> tuple[int, float]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        started = time.perf_counter()
        try:
            response = local.session.post(
                url, json=event, auth=auth, headers=HEADERS, timeout=60, allow_redirects=False
            )
            status = response.status_code
        except requests.RequestException:
            status = 0  # no answer at all: a failure like any non-2xx
        return status, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(post, events))
    seconds = time.perf_counter() - started
    latencies = sorted(latency for _, latency in outcomes)
    statuses = Counter(status for status, _ in outcomes)
    return {
        "events": len(events),
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "per_s": round(len(events) / seconds, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * nearest_rank(latencies, 0.99), 1),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "not_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
    }


def nearest_rank(ordered: list[float], fraction: float) -> float:
    """The smallest value that at least `fraction` of them do not exceed."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def main() -> None:
    load = json.loads(Path(sys.argv[1]).read_text())
    outcome = post_all(load["url"], tuple(load["auth"]), load["events"], load["concurrency"])
    Path(sys.argv[2]).write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
