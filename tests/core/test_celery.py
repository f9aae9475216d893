"""The Celery app (core.celery): the broker transport is kombu's own for every scheme, so
the broker URL Celery reports (in Flower, `celery inspect`, logs) is the one configured,
which Flower knows how to read queue lengths from; its config dump holds Celery's settings
and no password; tasks are routed by `task_routes`, and only JSON goes over the broker."""

import json
from urllib.parse import urlparse

import pytest
from flower.utils.broker import Broker

from apps.commission.tasks import generate_and_send_commission_report
from tests.support.fresh_python import fresh_python, printed_json

BROKER_WITH_PASSWORD = "redis://:broker-s3cret-pw@127.0.0.1:6379/0"

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


def celery_config_dump(**variables: str) -> dict:
    """What `celery inspect conf` (and Flower's worker page) shows: the worker's
    `app.conf.table(censored=True)`, in a fresh process with these variables."""
    code = (
        "import json, django; django.setup(); from core.celery import app; "
        "print(json.dumps(app.conf.table(with_defaults=False, censored=True), default=str))"
    )
    return printed_json(code, **variables)


def test_the_celery_config_dump_holds_only_celery_settings_and_no_password():
    dump = celery_config_dump(CELERY_BROKER_URL=BROKER_WITH_PASSWORD)

    assert "broker-s3cret-pw" not in json.dumps(dump)
    assert dump["broker_url"] == "redis://:********@127.0.0.1:6379/0"
    # Django's own settings (SECRET_KEY, DATABASES, ANYMAIL, ...) are not Celery's.
    assert not {"SECRET_KEY", "DATABASES", "ANYMAIL", "CELERY_BROKER_URL"} & set(dump)
    assert dump["task_acks_late"] is True


def test_task_is_routed_by_task_routes_not_by_a_queue_argument(celery_app):
    route = celery_app.amqp.router.route({}, generate_and_send_commission_report.name)
    assert route["queue"].name == "reports"
    email_route = celery_app.amqp.router.route({}, "apps.mailing.tasks.send_email_delivery")
    assert email_route["queue"].name == "email"
    assert getattr(generate_and_send_commission_report, "queue", None) is None


def test_only_json_goes_over_the_broker(celery_app):
    assert celery_app.conf.accept_content == ["json"]
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
