"""Owed work on real workers: the reconcilers send what the broker lost, and the email
task is queued in one pipeline, or else the usual way."""

import pytest
from kombu.exceptions import BatchPublishError
from kombu.transport.redis import PublishBatch

from apps.commission import tasks as report_tasks
from apps.commission.models import ReportRequest
from apps.commission.services import request_report
from apps.mailing.models import EmailDelivery
from apps.mailing.tasks import reconcile_deliveries as reconcile_task
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.owed_work import PERIOD, Recorder, ago, new_delivery
from tests.support.waiting import wait_for

Status = EmailDelivery.Status


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
