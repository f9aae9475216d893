"""The email reconciler (apps.mailing.reconcile): overdue deliveries whose message the broker
lost are queued again, once however many reconcilers run; a send stuck beyond the time
limit becomes unconfirmed; a broker still away leaves them owed."""

import logging

import pytest
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.reconcile import reconcile_deliveries
from apps.mailing.tasks import email_backoff
from tests.support.owed_work import Recorder, ago, new_delivery

Status = EmailDelivery.Status


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
