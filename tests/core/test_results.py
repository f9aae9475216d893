"""The result backend (core.results): the app's backend is django-celery-results' database
backend storing through taskops.StoredTaskResult, in one statement; reading and forgetting
stay django-celery-results' own. (What the one statement writes: taskops/test_managers.py.)"""

import pytest
from celery import states
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from core.results import DatabaseBackend

pytestmark = pytest.mark.django_db


def test_the_backend_stores_reads_and_forgets_results_through_it():
    from core.celery import app

    backend = app.backend
    assert isinstance(backend, DatabaseBackend)

    with CaptureQueriesContext(connection) as stored:
        backend.store_result("read-back", {"delivery_id": 7}, states.SUCCESS)
    assert len(stored) == 1
    meta = backend.get_task_meta("read-back")
    assert (meta["status"], meta["result"]) == (states.SUCCESS, {"delivery_id": 7})

    backend.forget("read-back")
    assert not TaskResult.objects.filter(task_id="read-back").exists()
