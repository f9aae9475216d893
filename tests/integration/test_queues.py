"""The report and its email travel through real Redis and real workers, each on its own queue."""

import json

import pytest
from django_celery_results.models import TaskResult

from apps.commission.periods import default_period
from apps.commission.services import record_deal
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.mailbox import text_body
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SEND_TASK = "apps.mailing.tasks.send_email_delivery"


def stored_queue(row: TaskResult) -> str:
    return json.loads(row.meta)["queue"]


def test_delay_builds_report_on_reports_queue_and_sends_on_email_queue(worker_pool, worker_mailbox):
    reports_worker = worker_pool.ensure("reports")
    email_worker = worker_pool.ensure("email")
    manager = UserFactory(username="boss", first_name="Bo", last_name="Ss")
    team = TeamFactory(name="Alpha", manager=manager)
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    period = default_period()
    record_deal(rep=rep, amount="1234.50", closed_on=period.start, external_ref="INT-1")

    result = generate_and_send_commission_report.delay(manager.pk, str(period))
    outcome = result.get(timeout=60)

    assert outcome["email"] == "queued"
    messages = wait_for(worker_mailbox.messages, timeout=60, what="the report email")
    assert len(messages) == 1
    message = messages[0]
    assert message["To"] == "boss@example.com"
    assert message["Subject"] == f"Commission report {period}: Alpha"
    body = text_body(message)
    assert "Ann Lee" in body
    assert "1,234.50" in body  # sales
    assert "123.45" in body  # 10% commission

    report_row = TaskResult.objects.get(task_id=result.id)
    assert stored_queue(report_row) == "reports"
    assert report_row.worker == reports_worker.nodename
    email_row = wait_for(
        lambda: TaskResult.objects.filter(task_name=SEND_TASK, status="SUCCESS").first(),
        what="the email task's result",
    )
    assert stored_queue(email_row) == "email"
    assert email_row.worker == email_worker.nodename
    delivery = EmailDelivery.objects.get(pk=outcome["delivery_id"])
    assert delivery.status == EmailDelivery.Status.SENT
    assert delivery.attempts == 1


def test_running_the_report_twice_sends_one_email(worker_pool, worker_mailbox):
    worker_pool.ensure("reports")
    worker_pool.ensure("email")
    team = TeamFactory(manager=UserFactory(username="twice"))
    add_rep(team)
    period = str(default_period())

    first = generate_and_send_commission_report.delay(team.manager.pk, period).get(timeout=60)
    wait_for(
        lambda: EmailDelivery.objects.filter(pk=first["delivery_id"], status="sent").exists(),
        what="the first email to be sent",
    )
    second = generate_and_send_commission_report.delay(team.manager.pk, period).get(timeout=60)

    assert second == {**first, "email": "already-sent"}
    assert len(worker_mailbox.messages()) == 1
    assert EmailDelivery.objects.count() == 1


def test_bad_input_fails_on_the_worker_without_retry(worker_pool):
    reports_worker = worker_pool.ensure("reports")

    result = generate_and_send_commission_report.delay(424242, "2025-09")

    row = wait_for(
        lambda: TaskResult.objects.filter(task_id=result.id, status="FAILURE").first(),
        what="the task to fail",
    )
    failure = json.loads(row.result)
    assert failure["exc_type"] == "ReportRequestError"
    assert failure["exc_message"] == ["no user with id 424242"]
    log = wait_for(
        lambda: (text := reports_worker.log()) and "Commission report refused" in text and text,
        what="the worker's error line",
    )
    task_lines = [line for line in log.splitlines() if result.id in line]
    assert any("no user with id 424242" in line for line in task_lines)
    assert not any("retry" in line.lower() for line in task_lines)
