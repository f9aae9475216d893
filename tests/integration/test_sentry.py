"""Sentry: real workers report to a local server playing Sentry (SENTRY_DSN in their environment).

A task that fails for good gives exactly one event naming the task; retries in between,
and a task that succeeds after retries, give none.

Counting "none" needs a barrier: a worker process sends its events in the order they
were captured, one at a time, so once an event captured later (by a task started after
the others finished) has arrived, every earlier one has arrived too.
"""

import json

import pytest

from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import send_email_delivery
from tests.support.fake_sentry import FakeSentry
from tests.support.fake_smtp import FakeSMTP
from tests.support.task_results import wait_for_result
from tests.support.waiting import wait_for

REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
SEND_TASK = "apps.mailing.tasks.send_email_delivery"
NO_SUCH_DELIVERY = 987654321


@pytest.fixture(scope="module")
def sentry():
    with FakeSentry() as server:
        yield server


@pytest.fixture(scope="module")
def smtp():
    with FakeSMTP() as server:
        yield server


def sentry_env(sentry: FakeSentry) -> dict[str, str]:
    return {
        "SENTRY_DSN": sentry.dsn,
        "SENTRY_ENVIRONMENT": "suite",
        "SENTRY_RELEASE": "commission@test",
        "SENTRY_TRACES_SAMPLE_RATE": "0",
    }


def the_only_event(sentry: FakeSentry, task_id: str) -> dict:
    events = sentry.events_for_task(task_id)
    assert len(events) == 1, f"{len(events)} events for task {task_id}: {events}"
    return events[0]


def barrier(sentry: FakeSentry, task) -> None:
    """Run a task that is reported at once, and wait for its event (see the module doc)."""
    result = task()
    wait_for_result(result.id, "FAILURE")
    wait_for(lambda: sentry.events_for_task(result.id), what="the barrier task's Sentry event")


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_email_failures_are_reported_once_and_recovered_retries_not_at_all(
    worker_pool, sentry, smtp
):
    worker_pool.ensure("email", **sentry_env(sentry), **smtp.worker_env())
    flaky, _ = create_delivery(
        idempotency_key="sentry:flaky", to_email="flaky@example.com", subject="s", body_text="b"
    )
    down, _ = create_delivery(
        idempotency_key="sentry:down", to_email="down@example.com", subject="s", body_text="b"
    )
    bad, _ = create_delivery(
        idempotency_key="sentry:bad", to_email="bad@example.com", subject="s", body_text="b"
    )
    smtp.fail("flaky@example.com", times=2)
    smtp.fail("down@example.com")
    smtp.fail("bad@example.com", code=550)

    recovers = send_email_delivery.delay(flaky.pk)
    exhausted = send_email_delivery.delay(down.pk)
    refused = send_email_delivery.delay(bad.pk)
    missing = send_email_delivery.delay(NO_SUCH_DELIVERY)
    wait_for_result(recovers.id, "SUCCESS")
    wait_for_result(exhausted.id, "FAILURE")
    wait_for_result(refused.id, "FAILURE")
    wait_for_result(missing.id, "FAILURE")
    assert EmailDelivery.objects.get(pk=flaky.pk).attempts == 3  # two retries, then sent
    assert EmailDelivery.objects.get(pk=down.pk).attempts == 4  # EMAIL_RETRY_MAX_RETRIES=3

    barrier(sentry, lambda: send_email_delivery.delay(NO_SUCH_DELIVERY))

    assert sentry.events_for_task(recovers.id) == []

    # Retries exhausted: the Celery integration captures the exception the task raised.
    event = the_only_event(sentry, exhausted.id)
    assert event["tags"]["celery_task_name"] == SEND_TASK
    assert event["extra"]["celery-job"]["task_name"] == SEND_TASK
    assert event["exception"]["values"][-1]["type"] == "TransientEmailError"
    assert event["environment"] == "suite"
    assert event["release"] == "commission@test"
    assert event["extra"]["celery-job"]["args"] == "[Filtered]"  # send_default_pii=False

    # Permanent errors are in the task's `throws`, which the Celery integration skips.
    # Refused by the server: the service logs it at ERROR, and that is the one event.
    event = the_only_event(sentry, refused.id)
    assert event["tags"]["celery_task_name"] == SEND_TASK
    assert event["logentry"]["message"].startswith("Email delivery %s failed for good")
    assert event["level"] == "error"
    # Nothing logged it: reported when the task failed.
    event = the_only_event(sentry, missing.id)
    assert event["tags"]["celery_task_name"] == SEND_TASK
    assert event["exception"]["values"][-1]["type"] == "PermanentEmailError"
    assert "no email delivery with id" in event["exception"]["values"][-1]["value"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_a_refused_report_is_reported_once_with_its_task_name_and_id(worker_pool, sentry):
    worker_pool.ensure("reports", **sentry_env(sentry))

    refused = generate_and_send_commission_report.delay(NO_SUCH_DELIVERY, "2025-09")
    wait_for_result(refused.id, "FAILURE")
    barrier(sentry, lambda: generate_and_send_commission_report.delay(NO_SUCH_DELIVERY, None))

    event = the_only_event(sentry, refused.id)
    assert event["tags"]["celery_task_id"] == refused.id
    assert event["tags"]["celery_task_name"] == REPORT_TASK
    assert event["logentry"]["message"].startswith("Commission report refused")
    assert event["level"] == "error"


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_no_email_address_leaves_in_sentry_events(worker_pool, sentry, smtp):
    """Recipients appear in log lines (breadcrumbs), error messages and stack frames'
    local variables (a delivery's repr names its recipient); none may reach Sentry."""
    worker_pool.ensure("email", **sentry_env(sentry), **smtp.worker_env())
    sent, _ = create_delivery(
        idempotency_key="pii:sent", to_email="pii-sent@example.com", subject="s", body_text="b"
    )
    refused, _ = create_delivery(
        idempotency_key="pii:refused",
        to_email="pii-refused@example.org",
        subject="s",
        body_text="b",
    )
    smtp.fail("pii-refused@example.org", code=550)

    wait_for_result(send_email_delivery.delay(sent.pk).id, "SUCCESS")
    failure = send_email_delivery.delay(refused.pk)
    wait_for_result(failure.id, "FAILURE")
    barrier(sentry, lambda: send_email_delivery.delay(NO_SUCH_DELIVERY))

    event = the_only_event(sentry, failure.id)
    everything = json.dumps(sentry.events())
    assert "pii-sent@example.com" not in everything
    assert "pii-refused@example.org" not in everything
    assert event["logentry"]["message"].startswith("Email delivery %s failed for good")
    frames = [
        frame
        for value in event.get("exception", {}).get("values", [])
        for frame in value.get("stacktrace", {}).get("frames", [])
    ]
    assert all("vars" not in frame for frame in frames)
