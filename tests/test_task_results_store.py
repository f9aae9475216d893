"""Task results stored in one statement hold what django-celery-results' own store
writes: the same row, first write and rewrite (a retry, then its outcome)."""

import pytest
from django.forms.models import model_to_dict
from django_celery_results.models import TaskResult

from core.results import DatabaseBackend, TaskResults

pytestmark = pytest.mark.django_db

WRITES = [
    {"status": "RETRY", "result": '{"exc_type": "Retry"}', "traceback": "Traceback ..."},
    {"status": "SUCCESS", "result": '"sent"', "traceback": None},
]


def store(manager, task_id: str, write: dict) -> None:
    manager.store_result(
        "application/json",
        "utf-8",
        task_id,
        meta='{"queue": "email", "args": [7], "kwargs": {}}',
        periodic_task_name=None,
        task_name="apps.mailing.tasks.send_email_delivery",
        task_args="(7,)",
        task_kwargs="{}",
        worker="email@host",
        using=None,
        **write,
    )


def row(task_id: str) -> dict:
    result = TaskResult.objects.get(task_id=task_id)
    return model_to_dict(result, exclude=["id", "task_id"])


def test_the_same_rows_as_django_celery_results_writes():
    for write in WRITES:
        store(TaskResult.objects, "upstream", write)
        store(TaskResults._default_manager, "ours", write)
        assert row("ours") == row("upstream")
    assert TaskResult.objects.count() == 2
    ours = TaskResult.objects.get(task_id="ours")
    assert ours.date_created <= ours.date_done


def test_the_backend_reads_what_it_stored(settings):
    from core.celery import app

    backend = DatabaseBackend(app=app)
    store(TaskResults._default_manager, "read-back", WRITES[1])

    assert backend.get_task_meta("read-back")["status"] == "SUCCESS"
    assert isinstance(app.backend, DatabaseBackend)
