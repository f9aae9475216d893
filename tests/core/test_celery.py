"""The broker transport is kombu's own for every scheme, so the broker URL Celery reports
(in Flower, `celery inspect`, logs) is the one configured, which Flower knows how to read
queue lengths from."""

from urllib.parse import urlparse

import pytest
from flower.utils.broker import Broker

from tests.support.fresh_python import fresh_python

BROKER_OF_THE_APP = (
    "import django; django.setup(); from core.celery import app; "
    "connection = app.connection_for_write(); "
    "print(connection.transport_cls); print(connection.as_uri(include_password=True))"
)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:secret@redis:6379/0",
        "rediss://:secret@redis:6380/0?ssl_cert_reqs=required",
        "sentinel://sentinel:26379",
    ],
)
def test_celery_reports_the_configured_broker_url_which_flower_reads(url):
    loaded = fresh_python("-c", BROKER_OF_THE_APP, CELERY_BROKER_URL=url)
    assert loaded.returncode == 0, loaded.stderr
    transport, reported = loaded.stdout.split()

    scheme = urlparse(url).scheme
    assert transport == scheme  # kombu's transport of that name
    assert urlparse(reported).scheme == scheme
    # What Flower's Broker page and /api/queues/length build from that URL (they answer
    # "broker is not supported" for a scheme Flower does not know).
    flowers = Broker(reported, broker_options={"master_name": "main"}, broker_use_ssl=None)
    assert type(flowers).__name__.startswith("Redis")
