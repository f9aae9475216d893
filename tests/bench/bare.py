"""The baseline: bare Celery, no Django, no result backend.

Task `a` on queue bare1 calls `b.delay` on queue bare2; `b` counts itself in Redis, so
the harness knows a chain is done without a result backend. Workers:
`celery -A tests.bench.bare worker -Q bare1` (and bare2), with the product's concurrency.
"""

import os

import redis
from celery import Celery

QUEUES = ("bare1", "bare2")
DONE_KEY = "bench:bare:done"

# Not the current app: the harness also holds the product's, whose shared tasks must
# keep resolving to it.
app = Celery(
    "bench-bare",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    set_as_current=False,
)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    task_routes={"bench.a": {"queue": QUEUES[0]}, "bench.b": {"queue": QUEUES[1]}},
)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    # Made in the pool process that uses it, never inherited across fork.
    global _client
    if _client is None:
        _client = redis.Redis.from_url(app.conf.broker_url)
    return _client


@app.task(name="bench.a")
def a(number: int) -> None:
    b.delay(number)


@app.task(name="bench.b")
def b(number: int) -> None:
    client().incr(DONE_KEY)
