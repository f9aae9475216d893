"""Which task results may be retried."""

import datetime as dt

from celery import states
from django.db.models import QuerySet
from django_celery_results.models import TaskResult

from .models import TaskRetry


def failed_results(
    *, task_name: str | None = None, since: dt.datetime | None = None
) -> QuerySet[TaskResult]:
    """Failed task results that nobody has retried yet, oldest first."""
    results = TaskResult.objects.filter(status=states.FAILURE).exclude(
        task_id__in=TaskRetry.objects.values("original_task_id")
    )
    if task_name:
        results = results.filter(task_name=task_name)
    if since is not None:
        results = results.filter(date_done__gte=since)
    return results.order_by("date_done", "pk")
