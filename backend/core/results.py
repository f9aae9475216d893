"""The result backend (settings: CELERY_RESULT_BACKEND): django-celery-results' database
backend, storing each result through taskops.StoredTaskResult, whose manager writes it
in one statement (apps/taskops/managers.py). Reading, expiring and forgetting results
are django-celery-results' own.
"""

from django_celery_results.backends.database import DatabaseBackend as StoredResults

from apps.taskops.models import StoredTaskResult


class DatabaseBackend(StoredResults):
    # The model whose default manager the backend stores, reads and forgets through.
    TaskModel = StoredTaskResult
