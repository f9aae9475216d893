"""kombu's Redis transport, with one Redis client per channel instead of one per command.

kombu's Redis channel builds a new redis-py client (`redis.Redis(connection_pool=...)`)
for every message it publishes, every event it sends and every acknowledgement it
records, then drops it. redis-py 8 fills each new client's tables of response callbacks
on construction, which under `make bench` was about a twentieth of each worker's CPU,
more than the commands themselves. The connections always came from the channel's pool
and still do: a redis-py client is a thin, thread-safe front for its pool, so one client
per pool serves every caller. When kombu replaces the pool (after a fork, or when the
connection is revived after an error), the next command gets a new client for the new pool.

Celery uses it through CELERY_BROKER_TRANSPORT for `redis://` broker URLs (settings).
"""

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _kept_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the consumer's own connection (BRPOP, pub/sub): kombu's way
            return super()._create_client(asynchronous=True)
        kept = self._kept_client
        if kept is None or kept.connection_pool is not self._pool:
            kept = self._kept_client = super()._create_client()
        return kept


class Transport(kombu_redis.Transport):
    Channel = Channel
