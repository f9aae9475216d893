"""When a task message was published, carried in its own headers.

Celery's messages say when they are due (eta) but not when they were sent, so the age
of the oldest message waiting in a queue (core/metrics.py) cannot be read from Redis
without it. Every process that publishes (web, workers, beat) loads core.celery, which
imports this module and so connects the handler.
"""

import json
import time

from celery.signals import before_task_publish

HEADER = "published_at"

# Seconds since the epoch; tests replace it to publish at a time they choose.
clock = time.time


@before_task_publish.connect
def stamp_publish_time(headers=None, **_):
    """Celery documents the signal's `headers` as modifiable: the publish sends them.
    A retry is a new publish, so its message gets its own time."""
    if headers is not None:
        headers[HEADER] = clock()


def published_at(raw: bytes | str | None) -> float | None:
    """The publish time of one message as kombu's Redis transport stores it (a JSON
    envelope whose "headers" are the message's), or None when it cannot be told: not a
    JSON envelope, or published before this header existed (an older release)."""
    if raw is None:
        return None
    try:
        return float(json.loads(raw)["headers"][HEADER])
    except (ValueError, TypeError, KeyError):
        return None
