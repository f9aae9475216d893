"""A Redis client for the product's own keys on the broker's Redis (the shared send
rate), one per process and broker configuration; Celery keeps its own connections.
Through Sentinel it follows the master across a failover (core/redis_connection.py)."""

import functools
import json

import redis
from django.conf import settings

from core.redis_connection import client_for

# Seconds; a Redis that does not answer must not hold a send for longer.
TIMEOUT = 2


@functools.cache
def _client(url: str, options_json: str) -> redis.Redis:
    # redis-py's pool notices a fork and opens new connections in the child.
    return client_for(url, json.loads(options_json), timeout=TIMEOUT, health_check_interval=30)


def broker_redis() -> redis.Redis:
    # The options as JSON: a cache key that changes when a test changes the settings.
    options = json.dumps(settings.CELERY_BROKER_TRANSPORT_OPTIONS, sort_keys=True)
    return _client(settings.CELERY_BROKER_URL, options)
