"""Who may read /metrics: with METRICS_TOKEN set, only its bearer; without it, anyone in
development and nobody in production (404: not configured, not served). What it says of
owed work, and that it answers with the broker down. (The broker's memory, read from the
suite's redis-server: tests/integration/test_metrics.py.)"""

import logging

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.commission.month import month_summary
from apps.commission.periods import current_period, default_period
from apps.mailing.models import EmailDelivery, UndeliverableAddress
from core.metrics import queue_lists
from tests.commission.test_month import seed_month
from tests.support.fresh_python import fresh_python, setting_values
from tests.support.metrics import scraped
from tests.support.owed_work import ago, new_delivery
from tests.support.processes import free_port

Status = EmailDelivery.Status

pytestmark = pytest.mark.django_db

TOKEN = "k7R2pQ9vX4mN8sT1wZ6yB3cF5hJ0lD2a-9Uq"


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def production(settings):
    """What the view reads of production: the flag (the rest is tested in a fresh process)."""
    settings.IS_PRODUCTION = True
    settings.METRICS_TOKEN = ""
    return settings


@pytest.fixture
def development(settings):
    settings.IS_PRODUCTION = False
    settings.METRICS_TOKEN = ""
    return settings


def test_development_without_a_token_is_open(client, development):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "commission_owed_items" in response.content.decode()


def test_production_without_a_token_does_not_serve_metrics(client, production):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", **bearer(TOKEN)).status_code == 404


@pytest.mark.parametrize("environment", ["production", "development"])
def test_with_a_token_only_its_bearer_reads_metrics(client, request, environment):
    request.getfixturevalue(environment).METRICS_TOKEN = TOKEN

    refused = [
        client.get("/metrics"),
        client.get("/metrics", **bearer(TOKEN[:-1])),
        client.get("/metrics", **bearer(TOKEN + "x")),
        client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}"),
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer "),
    ]
    allowed = client.get("/metrics", **bearer(TOKEN))

    assert [response.status_code for response in refused] == [401] * len(refused)
    assert all(r["WWW-Authenticate"] == 'Bearer realm="metrics"' for r in refused)
    assert b"commission_owed" not in b"".join(response.content for response in refused)
    assert allowed.status_code == 200
    assert "commission_webhook_refused_total" in allowed.content.decode()


# THE TOKEN IN THE PRODUCTION SETTINGS
# ------------------------------------------------------------------------------

PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "a-production-secret-key-for-this-test-only-0123456789",
    "DJANGO_ALLOWED_HOSTS": "reports.example.com",
}


def test_production_reads_a_long_token():
    assert setting_values("METRICS_TOKEN", **PRODUCTION, METRICS_TOKEN=TOKEN) == {
        "METRICS_TOKEN": TOKEN
    }
    assert setting_values("METRICS_TOKEN", **PRODUCTION, METRICS_TOKEN="") == {"METRICS_TOKEN": ""}


@pytest.mark.parametrize(
    "token", ["short-token", "change-me" + "x" * 40], ids=["short", "placeholder"]
)
def test_production_refuses_a_weak_token(token):
    loaded = fresh_python("-c", "import django; django.setup()", **PRODUCTION, METRICS_TOKEN=token)
    assert loaded.returncode != 0
    assert "ImproperlyConfigured: METRICS_TOKEN must be a long random value" in loaded.stderr


def test_development_takes_any_token():
    assert setting_values("METRICS_TOKEN", METRICS_TOKEN="dev") == {"METRICS_TOKEN": "dev"}


# THE BROKER'S MEMORY
# ------------------------------------------------------------------------------


def test_metrics_answer_without_the_broker(client, development, celery_app, monkeypatch, caplog):
    """Redis down: the scrape still serves the owed-work figures, says the broker is down
    (and nothing of its queues), and the log says why."""
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")

    with caplog.at_level(logging.WARNING, logger="core.metrics"):
        response = client.get("/metrics")
        samples = scraped(response)

    assert "commission_queue_length" not in response.content.decode()
    assert "commission_queue_oldest_age_seconds" not in response.content.decode()
    assert samples["commission_broker_up"] == 0
    assert "commission_broker_memory_used_bytes" not in samples
    assert "commission_broker_memory_max_bytes" not in samples
    assert "commission_unconfirmed_deliveries" in samples
    assert "Broker not read: ConnectionError" in caplog.text


def test_metrics_show_how_much_is_owed_and_the_oldest_age(client, maria, settings):
    settings.RECONCILE_STALLED_AFTER = 60
    delivery = new_delivery(next_attempt_at=ago(3600))
    EmailDelivery.objects.filter(pk=delivery.pk).update(created_at=ago(3600))
    new_delivery("unconfirmed", status=Status.UNCONFIRMED)
    new_delivery("sent", status=Status.SENT)

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    assert 'commission_owed_items{kind="email_delivery"} 2.0' in text
    assert 'commission_owed_stalled_items{kind="email_delivery"} 1.0' in text
    assert 'commission_owed_items{kind="report_request"} 0.0' in text
    assert "commission_unconfirmed_deliveries 1.0" in text
    age = next(
        line
        for line in text.splitlines()
        if line.startswith('commission_owed_oldest_age_seconds{kind="email_delivery"}')
    )
    assert 3600 <= float(age.split()[-1]) < 3700


def test_metrics_count_the_months_emails_as_the_month_page_does(client, development):
    last_month = default_period()
    seed_month(str(last_month), 30)
    seed_month(str(last_month.previous()), 4, tag="older")  # not a month /metrics reports
    UndeliverableAddress.objects.create(email="gone@example.com", reason="bounced")
    UndeliverableAddress.objects.create(
        email="back@example.com", reason="bounced", cleared_at=timezone.now()
    )

    families = text_string_to_metric_families(client.get("/metrics").content.decode())
    samples = {
        (s.labels["period"], s.labels["outcome"], s.labels["copy"]): s.value
        for family in families
        if family.name == "commission_month_deliveries"
        for s in family.samples
    }

    summary = month_summary(last_month)
    for outcome in summary.outcomes:
        assert samples[(str(last_month), outcome.status, "original")] == outcome.managers
        assert samples[(str(last_month), outcome.status, "resend")] == outcome.copies
    assert sum(samples.values()) == EmailDelivery.objects.filter(period=str(last_month)).count()
    assert {period for period, _, _ in samples} == {str(last_month), str(current_period())}
    assert scraped(client.get("/metrics"))["commission_undeliverable_addresses"] == 1


# THE QUEUES' REDIS LISTS (their lengths and ages, from the suite's redis-server:
# tests/integration/test_metrics.py)
# ------------------------------------------------------------------------------


def test_a_queue_is_read_from_kombus_list_and_its_priority_lists(celery_app):
    """kombu keeps messages sent with a priority in lists of their own, one per step."""
    options = celery_app.conf.broker_transport_options
    assert queue_lists("email", options) == [
        "email",
        "email\x06\x163",
        "email\x06\x166",
        "email\x06\x169",
    ]
    options = {**options, "priority_steps": [0, 5], "global_keyprefix": "commission:"}
    assert queue_lists("reports", options) == ["commission:reports", "commission:reports\x06\x165"]
