"""Owed work lives in the database: every report and email still owed is a row, and
the reconcilers queue again whatever the broker lost.

Unit tests of the plain functions (no broker: the enqueue callables are recorders);
the last tests run the reconcilers on real workers.
"""

import datetime as dt
import json
import logging
import uuid as uuid_module
from io import StringIO

import pytest
from celery import states
from celery.utils import uuid
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu.exceptions import BatchPublishError
from kombu.exceptions import OperationalError as BrokerError
from kombu.transport.redis import PublishBatch

from apps.commission import tasks as report_tasks
from apps.commission.models import ReportRequest
from apps.commission.periods import Period
from apps.commission.reconcile import MAX_REQUEUES, reconcile_report_requests
from apps.commission.services import request_report
from apps.mailing.claims import mark_failed
from apps.mailing.message import build_message
from apps.mailing.models import EmailDelivery
from apps.mailing.reconcile import reconcile_deliveries
from apps.mailing.send_errors import TransientEmailError
from apps.mailing.sending import send_delivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import email_backoff
from apps.mailing.tasks import reconcile_deliveries as reconcile_task
from apps.taskops.errors import NeedsConfirmation
from apps.taskops.services import retry_failed_task
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.fake_provider import SERVER_TOKEN, hang, postmark_error
from tests.support.processes import free_port
from tests.support.waiting import wait_for

Status = EmailDelivery.Status
PERIOD = Period(2025, 9)


class Recorder:
    """Stands in for a task's enqueue: remembers the calls, or fails like a broker away."""

    def __init__(self, broker_away: bool = False):
        self.calls: list[tuple] = []
        self.broker_away = broker_away

    def __call__(self, *args):
        if self.broker_away:
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.calls.append(args)


def new_delivery(key: str = "owed", **changes) -> EmailDelivery:
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}", to_email="boss@example.com", subject="S", body_text="B"
    )
    if changes:
        EmailDelivery.objects.filter(pk=delivery.pk).update(**changes)
        delivery.refresh_from_db()
    return delivery


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


@pytest.mark.django_db
def test_a_delivery_is_recorded_once_per_key_inside_the_callers_transaction():
    with transaction.atomic():
        first, created = create_delivery(
            idempotency_key="test:once", to_email="boss@example.com", subject="1", body_text="B"
        )
        again, created_again = create_delivery(
            idempotency_key="test:once", to_email="boss@example.com", subject="2", body_text="B"
        )
        # The taken key broke nothing: the transaction goes on.
        assert EmailDelivery.objects.count() == 1

    assert (created, created_again) == (True, False)
    stored = EmailDelivery.objects.get()
    assert again.pk == first.pk == stored.pk
    assert (stored.subject, stored.status, stored.created_at) == (
        "2",
        Status.QUEUED,
        first.created_at,
    )

    EmailDelivery.objects.update(status=Status.SENT)
    left, _ = create_delivery(
        idempotency_key="test:once", to_email="boss@example.com", subject="3", body_text="B"
    )
    assert (left.pk, left.subject) == (first.pk, "2")


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def postmark(fake_postmark, settings):
    """This process sends through Anymail's Postmark backend to the fake Postmark."""
    fake_postmark.reset()
    fake_postmark.send_here(settings)
    yield fake_postmark
    fake_postmark.reset()


# SENDING: WHAT AN ATTEMPT LEAVES BEHIND
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_delivery_is_due_at_once_and_sent_once(locmem):
    delivery = new_delivery()
    assert delivery.status == Status.QUEUED
    assert delivery.next_attempt_at <= timezone.now()

    assert send_delivery(delivery.pk, task_id="t1", backoff=email_backoff) == "sent"
    assert send_delivery(delivery.pk, task_id="t2", backoff=email_backoff) == "already-sent"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_message_that_comes_before_the_delivery_is_due_sends_nothing(locmem):
    """A stray second message (the reconciler's, while the broker still had the first)
    must not start a second chain of retries."""
    delivery = new_delivery(
        status=Status.RETRYING, next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )

    assert send_delivery(delivery.pk, task_id="stray", backoff=email_backoff) == "not-due"
    assert mail.outbox == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.RETRYING, 0)


@pytest.mark.django_db
def test_a_provider_error_answer_is_retried_as_retrying_with_its_due_time(postmark, settings):
    postmark.script(postmark_error(503, 0, "Service unavailable"))
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING
    assert delivery.next_attempt_at == raised.value.retry_at
    assert 59 <= (raised.value.retry_at - timezone.now()).total_seconds() <= 60


@pytest.mark.django_db
def test_a_connection_that_never_opened_is_a_plain_retry(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
        "POSTMARK_API_URL": f"http://127.0.0.1:{free_port()}/",
    }
    delivery = new_delivery()

    with pytest.raises(TransientEmailError):
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING


@pytest.mark.django_db
@pytest.mark.parametrize("tracking", [True, False])
def test_a_timeout_after_the_request_went_out_is_unconfirmed(postmark, settings, tracking):
    """The provider may have the message: with tracking on, wait for its event
    (EMAIL_UNCONFIRMED_WAIT) before sending again; without, retry as usual."""
    settings.EMAIL_TRACKING_ENABLED = tracking
    settings.EMAIL_UNCONFIRMED_WAIT = 600
    postmark.script(hang())
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert "Read timed out" in delivery.last_error
    wait = (raised.value.retry_at - timezone.now()).total_seconds()
    assert 590 <= wait <= 600 if tracking else 50 <= wait <= 60


@pytest.mark.django_db
def test_attempts_used_up_fail_the_delivery_and_schedule_nothing(postmark):
    postmark.script(postmark_error(503, 0, "Service unavailable"))
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: None)

    assert raised.value.retry_at is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == (Status.FAILED, None)


@pytest.mark.django_db
def test_a_message_redelivered_after_its_worker_died_mid_send_marks_it_unconfirmed(locmem):
    """The broker hands back the message of a worker process that died (acks_late):
    the row still says this very task was sending, so nobody knows if it left."""
    delivery = new_delivery(
        status=Status.SENDING, sending_since=timezone.now(), sending_task_id="task-1", attempts=1
    )

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="task-1", backoff=lambda attempts: 30)

    assert mail.outbox == []
    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert "died while sending" in delivery.last_error
    assert delivery.next_attempt_at == raised.value.retry_at
    # Another task's message finds it sending by someone else: not its business.
    other = new_delivery(
        "other", status=Status.SENDING, sending_since=timezone.now(), sending_task_id="task-1"
    )
    assert send_delivery(other.pk, task_id="task-2", backoff=email_backoff) == "not-due"


@pytest.mark.django_db
def test_an_unforeseen_failure_mid_send_is_left_to_the_reconciler_not_failed():
    """The hard time limit kills an attempt mid-call: Celery reports the failure, but
    the provider may have the message, so the row must not become a final FAILED."""
    sending = new_delivery("sending", status=Status.SENDING, sending_since=timezone.now())
    queued = new_delivery("queued")

    for delivery in (sending, queued):
        mark_failed(delivery.pk, "TimeLimitExceeded: 180")

    assert EmailDelivery.objects.get(pk=sending.pk).status == Status.SENDING
    assert EmailDelivery.objects.get(pk=queued.pk).status == Status.FAILED


# RECONCILING EMAIL DELIVERIES
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_overdue_deliveries_are_queued_again_once_however_many_reconcilers_run(settings):
    settings.RECONCILE_STALLED_AFTER = 300
    queued = new_delivery("queued", next_attempt_at=ago(301))
    retrying = new_delivery("retrying", status=Status.RETRYING, next_attempt_at=ago(400))
    unconfirmed = new_delivery("unconfirmed", status=Status.UNCONFIRMED, next_attempt_at=ago(900))
    new_delivery("fresh", next_attempt_at=ago(10))
    new_delivery("sent", status=Status.SENT, next_attempt_at=ago(900))
    new_delivery("failed", status=Status.FAILED, next_attempt_at=ago(900))
    new_delivery("exhausted", status=Status.UNCONFIRMED, next_attempt_at=None)
    first, second = Recorder(), Recorder()

    done = reconcile_deliveries(first, email_backoff)
    reconcile_deliveries(second, email_backoff)

    expected = [unconfirmed.pk, retrying.pk, queued.pk]  # the most overdue first
    assert done.requeued == expected
    assert first.calls == [(pk, None) for pk in expected]
    assert second.calls == []
    # Due now: the message just queued may claim it.
    assert all(
        row.next_attempt_at >= ago(5) for row in EmailDelivery.objects.filter(pk__in=expected)
    )


@pytest.mark.django_db
def test_a_delivery_stuck_sending_beyond_the_time_limit_becomes_unconfirmed(settings):
    settings.CELERY_TASK_TIME_LIMIT = 60
    settings.EMAIL_TRACKING_ENABLED = True
    settings.ANYMAIL_WEBHOOK_SECRET = ["u:p"]
    settings.EMAIL_UNCONFIRMED_WAIT = 120
    stuck = new_delivery("stuck", status=Status.SENDING, sending_since=ago(91), attempts=1)
    running = new_delivery("running", status=Status.SENDING, sending_since=ago(30), attempts=1)
    enqueue = Recorder()

    done = reconcile_deliveries(enqueue, lambda attempts: 10)

    assert done.unconfirmed == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == Status.UNCONFIRMED
    assert "the provider may have the message" in stuck.last_error
    # Waits for the provider's event before the next attempt, which is queued for then.
    assert enqueue.calls == [(stuck.pk, stuck.next_attempt_at)]
    assert 110 <= (stuck.next_attempt_at - timezone.now()).total_seconds() <= 120
    running.refresh_from_db()
    assert running.status == Status.SENDING


@pytest.mark.django_db
def test_dry_run_says_what_it_would_do_and_changes_nothing(settings):
    settings.RECONCILE_STALLED_AFTER = 60
    overdue = new_delivery("overdue", next_attempt_at=ago(61))
    before = EmailDelivery.objects.get(pk=overdue.pk).next_attempt_at
    enqueue = Recorder()

    assert reconcile_deliveries(enqueue, email_backoff, dry_run=True).requeued == [overdue.pk]

    assert enqueue.calls == []
    assert EmailDelivery.objects.get(pk=overdue.pk).next_attempt_at == before


@pytest.mark.django_db
def test_a_broker_still_away_leaves_the_delivery_owed_for_the_next_round(settings, caplog):
    settings.RECONCILE_STALLED_AFTER = 60
    overdue = new_delivery("overdue", next_attempt_at=ago(61))

    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        done = reconcile_deliveries(Recorder(broker_away=True), email_backoff)

    assert done.broker_away and done.requeued == []
    assert f"Could not queue email delivery {overdue.pk}" in caplog.text
    overdue.refresh_from_db()
    assert overdue.status == Status.QUEUED  # owed, and overdue again in one threshold


# REPORT REQUESTS
# ------------------------------------------------------------------------------


@pytest.fixture
def manager():
    team = TeamFactory(manager=UserFactory(username="maria"))
    add_rep(team)
    return team.manager


# Committed for real: the message goes out after the commit (transaction.on_commit).
@pytest.mark.django_db(transaction=True)
def test_a_request_is_recorded_before_it_is_queued_and_survives_a_broker_outage(manager, caplog):
    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        request, queued = request_report(
            manager, PERIOD, Recorder(broker_away=True), source=ReportRequest.Source.COMMAND
        )

    assert queued is False
    request.refresh_from_db()
    assert (request.status, request.manager, request.period) == (
        ReportRequest.Status.QUEUED,
        manager,
        "2025-09",
    )
    assert f"Could not queue report request {request.pk}" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_command_records_the_request_and_says_so_when_the_broker_is_away(manager, monkeypatch):
    def broker_away(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(report_tasks.generate_and_send_commission_report, "delay", broker_away)
    out, err = StringIO(), StringIO()

    call_command("send_commission_report", "--manager", "maria", stdout=out, stderr=err)

    request = ReportRequest.objects.get()
    assert request.source == ReportRequest.Source.COMMAND
    assert request.status == ReportRequest.Status.QUEUED
    assert f"as request {request.pk}, but the Celery broker is unreachable" in err.getvalue()
    assert "the reconciler queues it" in err.getvalue()


@pytest.mark.django_db
def test_the_report_task_settles_its_requests_and_a_broker_away_leaves_the_email_owed(
    celery_eager, manager, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    request, _ = request_report(manager, PERIOD, Recorder(), source=ReportRequest.Source.ADMIN)

    def broker_away(*args, **kwargs):
        raise BrokerError("Connection refused.")

    monkeypatch.setattr(report_tasks, "queue_email", broker_away)
    with (
        caplog.at_level(logging.WARNING, logger="core.enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        outcome = report_tasks.generate_and_send_commission_report.delay(
            manager.pk, "2025-09"
        ).get()

    request.refresh_from_db()
    assert request.status == ReportRequest.Status.BUILT
    assert request.delivery_id == outcome["delivery_id"]
    assert outcome["email"] in {"owed", "queued"}  # queued when the callback ran at commit
    assert f"Could not queue email delivery {outcome['delivery_id']}" in caplog.text
    delivery = EmailDelivery.objects.get(pk=outcome["delivery_id"])
    assert delivery.status == Status.QUEUED


@pytest.mark.django_db
def test_a_refused_request_is_settled_and_never_queued_again(celery_eager, settings):
    settings.RECONCILE_STALLED_AFTER = 0
    no_email = TeamFactory(manager=UserFactory(username="nomail", email="")).manager
    request, _ = request_report(no_email, PERIOD, Recorder(), source=ReportRequest.Source.ADMIN)

    report_tasks.generate_and_send_commission_report.delay(no_email.pk, "2025-09")

    request.refresh_from_db()
    assert request.status == ReportRequest.Status.REFUSED
    assert "has no email address" in request.last_error
    assert reconcile_report_requests(Recorder()).requeued == []


@pytest.mark.django_db
def test_stalled_requests_are_queued_again_once_and_not_forever(manager, settings):
    settings.RECONCILE_STALLED_AFTER = 300
    lost, _ = request_report(manager, PERIOD, Recorder(), source=ReportRequest.Source.MONTHLY)
    again, _ = request_report(
        manager, PERIOD, Recorder(), source=ReportRequest.Source.COMMAND, resend=True
    )
    request_report(manager, Period(2025, 8), Recorder(), source="command")  # not overdue
    ReportRequest.objects.filter(pk__in=[lost.pk, again.pk]).update(queued_at=ago(301))
    first, second = Recorder(), Recorder()

    assert reconcile_report_requests(first).requeued == [lost.pk, again.pk]
    reconcile_report_requests(second)

    again.refresh_from_db()
    assert first.calls == [(manager.pk, "2025-09", None), (manager.pk, "2025-09", again.resend_key)]
    assert second.calls == []
    ReportRequest.objects.filter(pk=lost.pk).update(queued_at=ago(301), requeues=MAX_REQUEUES)
    assert reconcile_report_requests(Recorder()).requeued == []


@pytest.mark.django_db
def test_the_command_reconciles_both_kinds_and_dry_run_changes_nothing(manager, settings):
    settings.RECONCILE_STALLED_AFTER = 60
    request, _ = request_report(manager, PERIOD, Recorder(), source="command")
    ReportRequest.objects.filter(pk=request.pk).update(queued_at=ago(61))
    delivery = new_delivery(next_attempt_at=ago(61))
    out = StringIO()

    call_command("reconcile_owed_work", "--dry-run", stdout=out)

    assert f"report requests: would queue again 1 [{request.pk}]" in out.getvalue()
    assert f"email deliveries: would queue again 1 [{delivery.pk}]" in out.getvalue()
    assert ReportRequest.objects.get(pk=request.pk).requeues == 0


# OPERATORS
# ------------------------------------------------------------------------------


def failed_send_result(delivery: EmailDelivery) -> TaskResult:
    return TaskResult.objects.create(
        task_id=uuid(),
        task_name="apps.mailing.tasks.send_email_delivery",
        status=states.FAILURE,
        meta=json.dumps({"args": [delivery.pk], "kwargs": {}}),
    )


@pytest.mark.django_db
def test_an_operator_retry_of_an_unconfirmed_delivery_needs_confirmation(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent.append(kwargs),
    )
    delivery = new_delivery(
        status=Status.UNCONFIRMED, next_attempt_at=None, last_error="ReadTimeout: timed out"
    )
    failure = failed_send_result(delivery)

    with pytest.raises(NeedsConfirmation, match="a copy may already have arrived"):
        retry_failed_task(failure, retried_by_name="ops")
    assert sent == []
    assert EmailDelivery.objects.get(pk=delivery.pk).next_attempt_at is None

    retry_failed_task(failure, retried_by_name="ops", confirmed=True)

    assert len(sent) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert delivery.next_attempt_at <= timezone.now()  # due: the retry's message claims it


@pytest.mark.django_db
def test_metrics_show_how_much_is_owed_and_the_oldest_age(client, manager, settings):
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


@pytest.mark.django_db
def test_the_admin_lists_stalled_work_with_its_age(admin_client, manager, settings):
    settings.RECONCILE_STALLED_AFTER = 60
    new_delivery("stalled-one", next_attempt_at=ago(120))
    new_delivery("moving-one", next_attempt_at=ago(1))
    request, _ = request_report(manager, PERIOD, Recorder(), source="command")
    ReportRequest.objects.filter(pk=request.pk).update(queued_at=ago(120))

    deliveries = admin_client.get("/admin/mailing/emaildelivery/?owed=stalled")
    requests = admin_client.get("/admin/commission/reportrequest/?owed=stalled")

    assert deliveries.status_code == requests.status_code == 200
    assert deliveries.context["cl"].result_count == 1
    assert requests.context["cl"].result_count == 1


# ON REAL WORKERS
# ------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_reconciler_on_a_real_worker_sends_a_delivery_whose_message_was_lost(worker_pool):
    worker_pool.ensure("email", RECONCILE_STALLED_AFTER="60")
    lost = new_delivery("lost", next_attempt_at=ago(120))

    reconcile_task.delay()

    wait_for(
        lambda: EmailDelivery.objects.filter(pk=lost.pk, status=Status.SENT).exists(),
        what="the lost delivery to be sent by the reconciler",
    )
    assert EmailDelivery.objects.get(pk=lost.pk).attempts == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_lost_report_request_is_built_and_emailed_through_the_reconciler(worker_pool):
    worker_pool.ensure("reports", RECONCILE_STALLED_AFTER="60")
    worker_pool.ensure("email")
    team = TeamFactory(manager=UserFactory(username="lost-boss"))
    add_rep(team)
    request, _ = request_report(team.manager, PERIOD, Recorder(), source="monthly")
    ReportRequest.objects.filter(pk=request.pk).update(queued_at=ago(120))

    report_tasks.reconcile_report_requests.delay()

    wait_for(
        lambda: EmailDelivery.objects.filter(
            to_email="lost-boss@example.com", status=Status.SENT
        ).exists(),
        what="the lost request's email to be sent",
    )
    request.refresh_from_db()
    assert (request.status, request.requeues) == (ReportRequest.Status.BUILT, 1)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_fails", [False, True], ids=["one-pipeline", "batch-fails"])
def test_the_email_task_is_queued_in_one_pipeline_or_else_the_usual_way(
    worker_pool, monkeypatch, batch_fails
):
    worker_pool.ensure("email")
    delivery = new_delivery(f"queued-{batch_fails}")
    flushes = []

    def flush(batch, real=PublishBatch.flush):
        flushes.append(batch)
        if batch_fails:
            raise BatchPublishError("pipeline failed")
        return real(batch)

    monkeypatch.setattr(PublishBatch, "flush", flush)
    report_tasks.queue_email(delivery.pk)

    wait_for(
        lambda: EmailDelivery.objects.filter(pk=delivery.pk, status=Status.SENT).exists(),
        what="the queued delivery to be sent",
    )
    assert flushes  # the batch was used
    assert EmailDelivery.objects.get(pk=delivery.pk).attempts == 1


@pytest.mark.django_db
def test_the_admin_asks_before_retrying_an_unconfirmed_delivery(admin_client, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent.append(kwargs),
    )
    delivery = new_delivery(status=Status.UNCONFIRMED, next_attempt_at=None, last_error="Timeout")
    failure = failed_send_result(delivery)
    changelist = "/admin/django_celery_results/taskresult/"
    action = {"action": "retry_failed_tasks", "_selected_action": [failure.pk]}

    asked = admin_client.post(changelist, action)

    assert asked.status_code == 200
    assert "a copy may already have arrived" in asked.content.decode()
    assert 'name="confirm_possible_duplicates" value="yes"' in asked.content.decode()
    assert sent == []

    confirmed = admin_client.post(changelist, {**action, "confirm_possible_duplicates": "yes"})

    assert confirmed.status_code == 302
    assert len(sent) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("backend", "header"),
    [
        ("anymail.backends.brevo.EmailBackend", "idempotencyKey"),
        ("anymail.backends.postmark.EmailBackend", None),
    ],
)
def test_a_provider_that_takes_an_idempotency_key_gets_the_same_one_every_attempt(
    settings, backend, header
):
    settings.EMAIL_BACKEND = backend
    delivery = new_delivery()

    first, second = build_message(delivery), build_message(delivery)

    if header is None:
        assert first.extra_headers == {}
    else:
        assert first.extra_headers[header] == second.extra_headers[header]
        assert uuid_module.UUID(first.extra_headers[header]).version == 5
        other = build_message(new_delivery("another"))
        assert other.extra_headers[header] != first.extra_headers[header]
