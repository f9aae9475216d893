"""How task results are written: django-celery-results' manager, each result in one
statement (the manager of taskops.StoredTaskResult, which core/results.py's backend uses)."""

from celery import states
from django.db import router
from django_celery_results.managers import TaskResultManager, transaction_retry

from core import upsert

FINAL_STATES = tuple(sorted(states.READY_STATES))


class OneStatementTaskResults(TaskResultManager):
    """django-celery-results' own TaskResult manager, but for store_result: its database
    backend calls that for every result, and django-celery-results writes the row with
    get_or_create and then save() (a SELECT, then an INSERT in a transaction of its own,
    or an UPDATE for a task that has a row already: a retry). Here the same row is
    written with one INSERT ... ON CONFLICT (task_id) DO UPDATE (core.upsert): the fields
    given and date_done (set on every write); the first write's date_created, and any
    field a rewrite is not given, kept as they were.

    Anything else goes django-celery-results' own way: a database expression (a STARTED
    result's date_started; CELERY_TASK_TRACK_STARTED is off) or an argument that is not a
    field (one a later version adds). tests/taskops/test_managers.py holds the rows to
    those django-celery-results writes.
    """

    @transaction_retry(max_retries=2)  # django-celery-results' own, as on its store_result
    def store_result(
        self, content_type, content_encoding, task_id, result, status, using=None, **fields
    ):
        fields.update(
            content_type=content_type,
            content_encoding=content_encoding,
            result=result,
            status=status,
        )
        meta = self.model._meta
        names = {field.name for field in meta.concrete_fields}
        if any(
            name not in names or hasattr(value, "resolve_expression")
            for name, value in fields.items()
        ):
            # exception_retry_count=0: the retries are this method's.
            return super().store_result(
                task_id=task_id, using=using, exception_retry_count=0, **fields
            )
        row = self.model(task_id=task_id, **fields)
        written = tuple(
            field.name
            for field in meta.concrete_fields
            if field.name in fields or getattr(field, "auto_now", False)
        )
        upsert.insert(
            row,
            unique=("task_id",),
            update=written,
            # A retry's message may already have run to the end in another thread (or
            # process) when its RETRY is stored: the final result stays.
            keep=None if status in states.READY_STATES else ("status", FINAL_STATES),
            using=using or router.db_for_write(self.model),
        )
        return row
