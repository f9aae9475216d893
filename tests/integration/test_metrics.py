"""/metrics with the suite's redis-server: how full the broker is."""

import pytest
import redis

from tests.support.metrics import scraped


@pytest.mark.django_db
@pytest.mark.integration
def test_metrics_show_how_full_the_broker_is(client, metrics_open, live_broker, redis_url):
    broker = redis.Redis.from_url(redis_url)
    before = broker.config_get("maxmemory")["maxmemory"]
    broker.config_set("maxmemory", str(256 * 1024 * 1024))
    try:
        samples = scraped(client.get("/metrics"))
    finally:
        broker.config_set("maxmemory", before)
        broker.close()

    assert samples["commission_broker_up"] == 1
    assert samples["commission_broker_memory_max_bytes"] == 256 * 1024 * 1024
    assert 0 < samples["commission_broker_memory_used_bytes"] < 256 * 1024 * 1024
