"""Waiting for task results that real workers store in the test database."""

from django_celery_results.models import TaskResult

from tests.support.waiting import wait_for

FINAL = ("SUCCESS", "FAILURE")


def wait_for_result(task_id: str, status: str, timeout: float = 60) -> TaskResult:
    """The task's stored result once it has `status`; fails as soon as it ends otherwise."""
    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status__in={status, *FINAL}).first(),
        timeout=timeout,
        what=f"task {task_id} to be {status}",
    )
    assert result.status == status, f"task {task_id} ended {result.status}: {result.result}"
    return result
