"""Switching a beat entry on or off, and running one now: one entry a call, so that the
caller can record each."""

from celery.exceptions import QueueNotFound
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from kombu.utils.json import loads

from core.celery import app


class NotRunnable(Exception):
    """The entry cannot be sent as it stands (a superuser may schedule anything)."""


def set_enabled(entry_id: int, enabled: bool) -> bool:
    """Switch the entry on or off; False when it already was (nothing written).

    One conditional UPDATE, as upstream's actions do, so an edit someone saves meanwhile
    is not overwritten with what this process read.
    """
    changes = {"enabled": enabled, "date_changed": timezone.now()}
    if not enabled:
        changes["last_run_at"] = None  # as PeriodicTask.save does for a disabled entry
    changed = PeriodicTask.objects.filter(pk=entry_id, enabled=not enabled).update(**changes)
    if changed:
        # Beat reloads its schedule when this row's time moves.
        PeriodicTasks.update_changed()
    return bool(changed)


def run_now(entry: PeriodicTask, task_id: str) -> None:
    """Send the entry's task with its arguments now, as beat would, as task `task_id`.

    Like django-celery-beat's own action: the entry's queue if it names one, and the
    `periodic_task_name` header so Flower and the results say which entry it was.
    """
    # Task modules are imported on demand (autodiscovery); make sure they are.
    app.loader.import_default_modules()
    task = app.tasks.get(entry.task)
    if task is None:
        raise NotRunnable(f"{entry.task!r} is not a registered task (renamed or removed?)")
    options = {"headers": {"periodic_task_name": entry.name}}
    if entry.queue:
        options["queue"] = entry.queue
    try:
        args, kwargs = loads(entry.args or "[]"), loads(entry.kwargs or "{}")
    except ValueError as exc:
        raise NotRunnable(f"its arguments are not JSON: {exc}") from exc
    try:
        # Celery checks the arguments against the task's signature, and the queue.
        task.apply_async(args=args, kwargs=kwargs, task_id=task_id, **options)
    except (TypeError, QueueNotFound) as exc:
        raise NotRunnable(f"{entry.task} was not sent: {exc}") from exc
