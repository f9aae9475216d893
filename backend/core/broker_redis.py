"""A Redis client for the product's own keys on the broker's Redis (the shared send
rate), one per process and broker URL; Celery keeps its own connections."""

import functools

import redis
from django.conf import settings

# Seconds; a Redis that does not answer must not hold a send for longer.
TIMEOUT = 2


@functools.cache
def _client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork and opens new connections in the child.
    return redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, health_check_interval=30
    )


def broker_redis() -> redis.Redis:
    return _client(settings.CELERY_BROKER_URL)
