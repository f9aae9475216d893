"""Database connections in Celery workers: kept between tasks the way Django keeps them
between requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS), not opened afresh for each task.

Celery's Django fixup closes every connection before and after every task, whatever
CONN_MAX_AGE says (celery/celery#4116; Celery's use of Django's rules instead was reverted
in celery/celery#9824), unless the CELERY_DB_REUSE_MAX setting is set: then it closes them
every that many tasks (settings). In between, each task begins and ends as a request
does: close_old_connections() closes a connection that broke (a database restart, an
error mid-task) or has outlived CONN_MAX_AGE, and the health check (CONN_HEALTH_CHECKS)
tests a kept connection before a task first uses it and replaces one that does not answer.
With CONN_MAX_AGE=0 every task still gets a new connection.
"""

from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections


def close_unusable_or_obsolete(task=None, **_) -> None:
    """Around each task a worker runs; an eager task runs inside its caller's request
    or transaction, which it leaves alone."""
    if not getattr(task.request, "is_eager", False):
        close_old_connections()


task_prerun.connect(close_unusable_or_obsolete, dispatch_uid="core.worker_db.prerun")
task_postrun.connect(close_unusable_or_obsolete, dispatch_uid="core.worker_db.postrun")
