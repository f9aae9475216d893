"""Retrying failed tasks (apps.taskops): the service, the command and the idempotency of email."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_results.models import TaskResult

from apps.commission.periods import default_period
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import send_email_delivery
from apps.taskops.errors import AlreadyRetried, NotFailed
from apps.taskops.models import TaskRetry
from apps.taskops.services import retry_failed_task
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.fake_smtp import FakeSMTP
from tests.support.task_results import wait_for_result
from tests.support.waiting import wait_for

REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"


@pytest.fixture(scope="module")
def smtp():
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def workers(worker_pool, smtp):
    """Both queues' workers; email goes to the fake SMTP server through Django's SMTP backend."""
    return worker_pool.ensure("reports"), worker_pool.ensure("email", **smtp.worker_env())


def manager_without_email(username: str):
    """A manager whose report is refused at once (no address to send it to)."""
    team = TeamFactory(manager=UserFactory(username=username, email=""))
    add_rep(team)
    return team.manager


def failed_report(manager) -> TaskResult:
    task = generate_and_send_commission_report.delay(manager.pk, str(default_period()))
    return wait_for_result(task.id, "FAILURE")


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_retry_sends_a_failed_report_again_and_records_who_and_when(workers, smtp):
    operator = UserFactory(username="operator")
    manager = manager_without_email("no-address")
    failure = failed_report(manager)
    assert "has no email address" in failure.result

    # The operator fixes the data, then retries the failure.
    manager.email = "found@example.com"
    manager.save()
    before = timezone.now()
    retry = retry_failed_task(failure, retried_by=operator)

    again = wait_for_result(retry.new_task_id, "SUCCESS")
    assert again.task_name == REPORT_TASK
    assert json.loads(again.meta)["queue"] == "reports"  # routed by task_routes
    assert json.loads(again.meta)["args"] == json.loads(failure.meta)["args"]
    assert json.loads(again.meta)["args"] == [manager.pk, str(default_period())]
    stored = TaskRetry.objects.get()
    assert (stored.original_task_id, stored.new_task_id) == (failure.task_id, again.task_id)
    assert stored.retried_by == operator
    assert stored.retried_by_name == "operator"
    assert stored.retried_at >= before
    delivery = wait_for(
        lambda: EmailDelivery.objects.filter(
            pk=json.loads(again.result)["delivery_id"], status="sent"
        ).first(),
        what="the report email to be sent",
    )
    assert delivery.attempts == 1
    assert len(smtp.messages_to("found@example.com")) == 1

    with pytest.raises(AlreadyRetried, match=retry.new_task_id):
        retry_failed_task(failure, retried_by=operator)
    with pytest.raises(NotFailed, match="SUCCESS"):
        retry_failed_task(again, retried_by=operator)
    assert TaskRetry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_retrying_an_email_that_was_sent_meanwhile_does_not_send_it_again(workers, smtp):
    delivery, _ = create_delivery(
        idempotency_key="retry-test:1",
        to_email="twice@example.com",
        subject="Once only",
        body_text="Hello",
    )
    # The provider is down: two sends of the same delivery, one after the other (at
    # once, the second would find the first's claim and do nothing), both fail for good.
    smtp.fail("twice@example.com")
    first_failure = wait_for_result(send_email_delivery.delay(delivery.pk).id, "FAILURE")
    second_failure = wait_for_result(send_email_delivery.delay(delivery.pk).id, "FAILURE")
    assert EmailDelivery.objects.get(pk=delivery.pk).status == "failed"
    assert smtp.messages_to("twice@example.com") == []

    smtp.recover("twice@example.com")
    sent = wait_for_result(
        retry_failed_task(first_failure, retried_by_name="t").new_task_id, "SUCCESS"
    )
    assert json.loads(sent.result) == "sent"
    attempts = EmailDelivery.objects.get(pk=delivery.pk).attempts

    # The second failure's retry finds the delivery sent and sends nothing.
    skipped = wait_for_result(
        retry_failed_task(second_failure, retried_by_name="t").new_task_id, "SUCCESS"
    )
    assert json.loads(skipped.result) == "already-sent"
    assert json.loads(skipped.meta)["queue"] == "email"
    assert len(smtp.messages_to("twice@example.com")) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", attempts)


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_command_dry_run_changes_nothing_and_a_real_run_retries_exactly_the_matching_failures(
    workers,
):
    recent = [failed_report(manager_without_email(f"recent{i}")) for i in range(2)]
    old = failed_report(manager_without_email("old"))
    TaskResult.objects.filter(pk=old.pk).update(date_done=timezone.now() - dt.timedelta(hours=3))
    # Another task's failure: its delivery no longer exists.
    email_failure = wait_for_result(send_email_delivery.delay(987654).id, "FAILURE")
    results_before = set(TaskResult.objects.values_list("task_id", "status"))

    dry = run_command("--task-name", REPORT_TASK, "--since", "2h", "--dry-run")

    assert dry.splitlines() == [
        *(
            f"would retry {REPORT_TASK} {r.task_id} args={json.loads(r.meta)['args']} kwargs={{}}"
            for r in recent
        ),
        "would retry 2 task(s), would skip 0",
    ]
    assert not TaskRetry.objects.exists()

    real = run_command("--task-name", REPORT_TASK, "--since", "2h")

    retries = {r.original_task_id: r for r in TaskRetry.objects.all()}
    assert set(retries) == {r.task_id for r in recent}
    for failure in recent:
        new_id = retries[failure.task_id].new_task_id
        assert f"retried {REPORT_TASK} {failure.task_id} -> {new_id}" in real
        # Still no address: the new task fails as well, with the same arguments.
        again = wait_for_result(new_id, "FAILURE")
        assert json.loads(again.meta)["args"] == json.loads(failure.meta)["args"]
        assert retries[failure.task_id].retried_by_name.endswith("(manage.py retry_failed_tasks)")
    assert real.splitlines()[-1] == "retried 2 task(s), skipped 0"
    # The report queue is worked in order: had the dry run sent anything, its tasks would
    # have finished before the real retries did. Only the two retries are new.
    results_after = set(TaskResult.objects.values_list("task_id", "status"))
    assert results_after - results_before == {
        (retries[r.task_id].new_task_id, "FAILURE") for r in recent
    }
    assert old.task_id not in retries and email_failure.task_id not in retries


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("retry_failed_tasks", *args, stdout=out, stderr=StringIO())
    return out.getvalue()
