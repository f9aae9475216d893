"""Task results in the database, as django-celery-results stores them, in one statement.

Its manager stores each result with get_or_create and then save(): a SELECT, then an
INSERT in a transaction of its own (and an UPDATE too for a task that already has a
row, a retry), for every task. Here the same row is written with one
INSERT ... ON CONFLICT (task_id) DO UPDATE (core.upsert): the same fields with the same
values, the first write's date_created kept. Reading, expiring and forgetting results
are django-celery-results' own (settings: CELERY_RESULT_BACKEND).
"""

from django_celery_results.backends.database import DatabaseBackend as StoredResults
from django_celery_results.managers import TaskResultManager
from django_celery_results.models import TaskResult

from core import upsert

# Every column a store writes; date_done is set on each write (auto_now).
WRITTEN = (
    "status",
    "result",
    "traceback",
    "meta",
    "content_encoding",
    "content_type",
    "periodic_task_name",
    "task_name",
    "task_args",
    "task_kwargs",
    "worker",
    "date_done",
)


class OneStatementTaskResults(TaskResultManager):
    def store_result(self, content_type, content_encoding, task_id, result, status, **fields):
        if "date_started" in fields:
            # STARTED (CELERY_TASK_TRACK_STARTED, off here) sets it to a database
            # expression: the upstream way handles that.
            return super().store_result(
                content_type, content_encoding, task_id, result, status, **fields
            )
        using = fields.pop("using", None)
        fields.pop("exception_retry_count", None)
        row = TaskResult(
            task_id=task_id,
            status=status,
            result=result,
            content_encoding=content_encoding,
            content_type=content_type,
            **fields,
        )
        upsert.insert(row, unique=("task_id",), update=WRITTEN, using=using)
        return row


class TaskResults:
    """TaskResult as the backend uses it, with the one-statement store."""

    DoesNotExist = TaskResult.DoesNotExist
    _default_manager = OneStatementTaskResults()
    _default_manager.model = TaskResult


class DatabaseBackend(StoredResults):
    TaskModel = TaskResults
