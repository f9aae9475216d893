from django.conf import settings
from django.db import models
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from apps.taskops.managers import OneStatementTaskResults


class TaskRetry(models.Model):
    """A failed task sent again by an operator: which failure, which new task, who and when.

    Task ids rather than foreign keys: django-celery-results deletes results when they
    expire, and the record of who retried what should outlive them.
    """

    # Unique: a failure is retried once; if the new task fails too, that new failure
    # is what gets retried next.
    original_task_id = models.CharField(max_length=255, unique=True)
    new_task_id = models.CharField(max_length=255, unique=True)
    task_name = models.CharField(max_length=255, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The admin user, when retried from the admin.",
    )
    retried_by_name = models.CharField(
        max_length=255, help_text="Who asked: a username, or the OS user of a command."
    )
    retried_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-retried_at"]
        verbose_name_plural = "task retries"
        permissions = [("retry_failed_task", "Can retry failed tasks")]

    def __str__(self) -> str:
        return f"{self.task_name} {self.original_task_id} -> {self.new_task_id}"


class ScheduledTask(PeriodicTask):
    """django-celery-beat's periodic task, to carry the permission to run one now.

    A proxy: no table, and the permission shows next to what it is about, under this
    app, where the other task operations' permissions are. No default permissions: the
    periodic task's own view/add/change/delete are the ones the admin asks for.
    """

    class Meta:
        proxy = True
        default_permissions = ()
        permissions = [("run_scheduled_task", "Can run scheduled tasks now")]
        verbose_name = "scheduled task"


class StoredTaskResult(TaskResult):
    """django-celery-results' task result as the result backend writes it (core/results.py),
    each in one statement (apps/taskops/managers.py).

    A proxy: the same table and rows; reading, expiring and the admin stay
    django-celery-results' TaskResult's. No permissions of its own, and not in the admin.
    """

    objects = OneStatementTaskResults()

    class Meta:
        proxy = True
        default_permissions = ()
