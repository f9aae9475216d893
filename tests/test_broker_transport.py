"""The broker transport (core/broker.py): kombu's Redis transport, keeping one client
per connection pool instead of building one for every command."""

import pytest
from kombu import Connection, Exchange, Queue

from core.broker import Transport
from tests.support.fresh_python import fresh_python

TRANSPORT_OF_THE_APP = (
    "import django; django.setup(); from core.celery import app; "
    "print(app.connection_for_write().transport_cls)"
)


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://redis:6379/0", "core.broker:Transport"),
        ("rediss://redis:6380/0?ssl_cert_reqs=required", "rediss"),
        ("sentinel://sentinel:26379", "sentinel"),
    ],
)
def test_redis_urls_use_it_and_other_schemes_keep_kombus_own(url, transport):
    loaded = fresh_python("-c", TRANSPORT_OF_THE_APP, CELERY_BROKER_URL=url)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == transport


@pytest.fixture
def channel(redis_url):
    with Connection(redis_url, transport=Transport) as connection:
        yield connection.default_channel


@pytest.mark.integration
def test_publishing_and_consuming_share_one_client(channel):
    queue = Queue("broker-transport-test", Exchange("broker-transport-test"), "key")(channel)
    queue.declare()
    producer = channel.connection.client.Producer(channel)
    with channel.conn_or_acquire() as first:
        pass

    for number in range(3):
        producer.publish({"n": number}, exchange=queue.exchange, routing_key="key")
    received = [queue.get(no_ack=True).payload for _ in range(3)]

    with channel.conn_or_acquire() as later:
        assert later is first
    assert received == [{"n": 0}, {"n": 1}, {"n": 2}]


@pytest.mark.integration
def test_a_new_pool_gets_a_new_client(channel):
    with channel.conn_or_acquire() as before:
        before.ping()

    channel._after_fork()  # what kombu does in a forked process and on revival

    with channel.conn_or_acquire() as after:
        assert after is not before
        assert after.connection_pool is channel.pool
        assert after.ping()
