"""/metrics with the suite's redis-server: how full the broker is, how many messages each
queue holds and how long the oldest has waited, from real task messages published
through the app to queues no worker takes from."""

import time

import pytest
import redis
from celery.signals import before_task_publish
from prometheus_client.parser import text_string_to_metric_families

from core import queue_age
from tests.support.metrics import scraped

REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
SEND_TASK = "apps.mailing.tasks.send_email_delivery"

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


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


def per_queue(response, name: str) -> dict[str, float]:
    """The samples of `name` in a /metrics answer, by queue."""
    assert response.status_code == 200
    return {
        sample.labels["queue"]: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == name
    }


@pytest.fixture
def idle_queues(worker_pool, live_broker):
    """Both queues empty, and no worker taking from them while the test fills them."""
    worker_pool.stop("reports")
    worker_pool.stop("email")
    live_broker.control.purge()
    try:
        yield live_broker
    finally:
        live_broker.control.purge()  # the next worker finds nothing of this test's


def publish_at(monkeypatch, app, when: float, name: str, args: list, **options) -> None:
    """Publish a real task message through the app, stamped as published at `when`."""
    monkeypatch.setattr(queue_age, "clock", lambda: when)
    app.send_task(name, args=args, **options)


def test_metrics_show_each_queues_length_and_its_oldest_messages_age(
    client, metrics_open, idle_queues, redis_url, monkeypatch
):
    app = idle_queues
    long_ago = time.time() - 3600
    # The reports queue: its oldest message first, then two newer ones, one of them sent
    # with a priority (kombu keeps it in a list of its own).
    publish_at(monkeypatch, app, long_ago, REPORT_TASK, [987654321, "2025-10"])
    publish_at(monkeypatch, app, long_ago + 600, REPORT_TASK, [987654322, "2025-10"])
    publish_at(monkeypatch, app, long_ago + 900, REPORT_TASK, [987654323, "2025-10"], priority=6)
    publish_at(monkeypatch, app, long_ago + 1800, SEND_TASK, [987654321])

    response = client.get("/metrics")

    assert per_queue(response, "commission_queue_length") == {"reports": 3, "email": 1}
    ages = per_queue(response, "commission_queue_oldest_age_seconds")
    assert ages["reports"] >= 3600
    # Both read at the same instant: they differ by exactly the gap between the two
    # oldest messages' publish times, whenever the scrape ran.
    assert ages["reports"] - ages["email"] == pytest.approx(1800, abs=1e-3)
    # Read the way /metrics reads it: the oldest message is at the right end of the list.
    broker = redis.Redis.from_url(redis_url)
    try:
        assert queue_age.published_at(broker.lindex("reports", -1)) == long_ago
        assert broker.llen("reports\x06\x166") == 1
    finally:
        broker.close()


def test_an_empty_queue_is_0_seconds_old_and_one_without_the_header_tells_no_age(
    client, metrics_open, idle_queues
):
    """A message published by a release before the publish-time header (here: with the
    header's handler disconnected) counts in the length but gives no age."""
    before_task_publish.disconnect(queue_age.stamp_publish_time)
    try:
        idle_queues.send_task(SEND_TASK, args=[987654321])
    finally:
        before_task_publish.connect(queue_age.stamp_publish_time)

    response = client.get("/metrics")

    assert per_queue(response, "commission_queue_length") == {"reports": 0, "email": 1}
    assert per_queue(response, "commission_queue_oldest_age_seconds") == {
        "reports": 0,
        "email": 0,
    }
