"""Logging helpers shared by the web process and the Celery workers."""

import logging

from celery import current_task


class TaskContextFilter(logging.Filter):
    """Add the running Celery task's name and id to every log record ("-" outside tasks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = getattr(task, "request", None) if task else None
        task_id = getattr(request, "id", None)
        record.task_name = task.name if task_id else "-"
        record.task_id = task_id or "-"
        return True
