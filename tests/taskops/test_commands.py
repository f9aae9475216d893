"""The retry_failed_tasks command's own checks: its arguments, and its last line, which
names each failure it skipped and why (the retries themselves: taskops/test_services.py
and tests/integration/test_task_retry.py)."""

import json
from io import StringIO

import pytest
from celery import states
from celery.utils import uuid
from django.core.management import CommandError, call_command
from django_celery_results.models import TaskResult

from apps.mailing.models import EmailDelivery
from apps.taskops.models import TaskRetry
from tests.factories import UserFactory
from tests.support.owed_work import new_delivery

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
EMAIL = "apps.mailing.tasks.send_email_delivery"


def test_command_rejects_an_unreadable_age():
    with pytest.raises(CommandError, match="not an age"):
        call_command("retry_failed_tasks", "--since", "two hours")


def failed(name: str, *args) -> TaskResult:
    return TaskResult.objects.create(
        task_id=uuid(),
        task_name=name,
        status=states.FAILURE,
        meta=json.dumps({"args": list(args), "kwargs": {}}),
    )


def failed_email(key: str, status: str) -> tuple[EmailDelivery, TaskResult]:
    """A delivery of Maria's November report whose send task failed, then `status`."""
    maria = UserFactory(username="maria", first_name="Maria", last_name="Ivanova")
    delivery = new_delivery(key, user=maria, period="2026-11", to_email="maria@example.com")
    failure = failed(EMAIL, delivery.pk)
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=status, sending_task_id=failure.task_id, next_attempt_at=None
    )
    return delivery, failure


@pytest.fixture
def sent(monkeypatch) -> list:
    """What the retries queue, instead of a broker."""
    queued = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: queued.append(kwargs),
    )
    return queued


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("retry_failed_tasks", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_last_line_names_each_failure_skipped_and_why(sent):
    owed, to_retry = failed_email("owed", Status.FAILED)
    cancelled, after_cancel = failed_email("cancelled", Status.CANCELLED)
    _, retried = failed_email("retried", Status.FAILED)
    TaskRetry.objects.create(
        original_task_id=retried.task_id,
        new_task_id="0" * 36,
        task_name=EMAIL,
        retried_by_name="ops",
    )
    foreign = failed("celery.backend_cleanup")

    out, err = run()

    retry = TaskRetry.objects.get(original_task_id=to_retry.task_id)
    assert len(sent) == 1
    assert out.splitlines() == [
        f"retried {EMAIL} {to_retry.task_id} -> {retry.new_task_id} args=[{owed.pk}] kwargs={{}}",
        "retried 1 task(s), skipped 3: "
        # The refused first: someone must look at those.
        f"{foreign.task_id[:8]} backend_cleanup: task {foreign.task_id} is "
        "'celery.backend_cleanup', which is not one of the tasks that may be retried ("
        "apps.commission.tasks.generate_and_send_commission_report, "
        f"apps.commission.tasks.send_monthly_commission_reports, {EMAIL}); "
        f"{after_cancel.task_id[:8]} send_email_delivery (email {cancelled.pk} "
        "to maria@example.com (Maria Ivanova, 2026-11)): "
        "its email is now cancelled by an operator; "
        f"{retried.task_id[:8]} send_email_delivery (email {delivery_id_of(retried)} "
        f"to maria@example.com (Maria Ivanova, 2026-11)): retried as {'0' * 36} by ops",
    ]
    assert "not one of the tasks that may be retried" in err

    # Run again: the one retried is skipped too now, and nothing more is sent.
    again, _ = run()
    assert again.startswith("retried 0 task(s), skipped 4: ")
    assert f"{to_retry.task_id[:8]} send_email_delivery (email {owed.pk} " in again
    assert f"retried as {retry.new_task_id} by " in again
    assert len(sent) == 1


def test_a_dry_run_says_what_it_would_skip_and_changes_nothing(sent):
    _, to_retry = failed_email("owed", Status.FAILED)
    _, delivered = failed_email("delivered", Status.DELIVERED)

    out, _ = run("--dry-run")

    assert out.splitlines()[-1] == (
        f"would retry 1 task(s), would skip 1: {delivered.task_id[:8]} send_email_delivery "
        f"(email {delivery_id_of(delivered)} to maria@example.com (Maria Ivanova, 2026-11)): "
        "its email is now delivered"
    )
    assert f"would retry {EMAIL} {to_retry.task_id}" in out
    assert sent == [] and not TaskRetry.objects.exists()


def test_nothing_failed_says_so_in_the_same_words(sent):
    out, _ = run()
    assert out.splitlines() == ["retried 0 task(s), skipped 0"]


def test_a_long_list_of_skipped_failures_names_the_first_twenty(sent):
    for i in range(23):
        failed_email(f"d{i}", Status.SENT)

    out, _ = run()

    last = out.splitlines()[-1]
    assert last.startswith("retried 0 task(s), skipped 23: ")
    assert last.count("its email is now sent (accepted by the provider)") == 20
    assert last.endswith("; and 3 more (narrow with --since or --task-name)")


def delivery_id_of(failure: TaskResult) -> int:
    return json.loads(failure.meta)["args"][0]
