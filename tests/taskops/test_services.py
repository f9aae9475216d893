"""Retrying a failed task (apps.taskops.services): only the tasks on the allow list, and
only registered ones. On real workers: tests/integration/test_task_retry.py."""

import json
from io import StringIO

import pytest
from celery.utils import uuid
from django.core.management import call_command
from django_celery_results.models import TaskResult

from apps.taskops.errors import NotRetryable, UnknownTask
from apps.taskops.models import TaskRetry
from apps.taskops.services import retry_failed_task


@pytest.mark.django_db
@pytest.mark.parametrize(
    "task_name",
    [
        # A failure stored by an older version of the code, whose task was renamed since.
        "apps.commission.tasks.send_report_v0",
        # Celery's own, and a forged row naming something that is not ours to run.
        "celery.backend_cleanup",
        "celery.chord_unlock",
        "core.celery.debug_task",
        "os.system",
    ],
)
def test_retry_refuses_any_task_that_is_not_on_the_allow_list(task_name):
    failure = TaskResult.objects.create(
        task_id=uuid(),
        task_name=task_name,
        status="FAILURE",
        task_args=json.dumps("(1,)"),
        task_kwargs=json.dumps("{}"),
    )
    with pytest.raises(NotRetryable, match="not one of the tasks that may be retried"):
        retry_failed_task(failure, retried_by_name="t")
    assert not TaskRetry.objects.exists()

    out, err = StringIO(), StringIO()
    call_command("retry_failed_tasks", stdout=out, stderr=err)
    assert "not one of the tasks that may be retried" in err.getvalue()
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith(
            f"retried 0 task(s), skipped 1: {failure.task_id[:8]} {task_name.rsplit('.', 1)[-1]} "
            f"(1): task {failure.task_id} is {task_name!r}, which is not one of the tasks"
        )
    )


@pytest.mark.django_db
def test_an_allow_listed_task_that_is_not_registered_is_refused(monkeypatch):
    monkeypatch.setattr(
        "apps.taskops.services.RETRYABLE_TASKS", frozenset({"apps.mailing.tasks.gone"})
    )
    failure = TaskResult.objects.create(
        task_id=uuid(), task_name="apps.mailing.tasks.gone", status="FAILURE", meta="{}"
    )
    with pytest.raises(UnknownTask, match="not a registered task"):
        retry_failed_task(failure, retried_by_name="t")
