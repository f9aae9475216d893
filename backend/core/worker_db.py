"""Database connections in Celery workers: kept between tasks the way Django keeps them
between requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS), not opened afresh for each task.

Celery's Django fixup closes every connection before and after every task, whatever
CONN_MAX_AGE says, unless its DB_REUSE_MAX is set, and then it closes them every
2 x DB_REUSE_MAX tasks without looking at their health. So each task paid for a new
PostgreSQL connection (about a tenth of a worker's time under `make bench`) and
DATABASE_CONN_MAX_AGE changed nothing in workers. Here the fixup leaves connections
alone, and each task begins and ends as a request does: close_old_connections() closes
a connection that broke (a database restart, an error mid-task) or has outlived
CONN_MAX_AGE, and the health check tests a kept connection before a task first uses it.
With CONN_MAX_AGE=0 every task still gets a new connection.
"""

from celery.signals import task_postrun, task_prerun, worker_init
from django.db import close_old_connections

# Tasks (times two: the fixup counts a close before and after each) after which the
# fixup would close the connections anyway: never, in practice.
NEVER = 10**12


@worker_init.connect
def leave_connections_to_django(sender=None, **_) -> None:
    """In the worker (before the pool forks): take over from the fixup."""
    for fixup in getattr(getattr(sender, "app", None), "_fixups", ()):
        if hasattr(type(fixup), "worker_fixup"):
            fixup.worker_fixup.db_reuse_max = NEVER
    task_prerun.connect(close_unusable_or_obsolete, dispatch_uid="core.worker_db.prerun")
    task_postrun.connect(close_unusable_or_obsolete, dispatch_uid="core.worker_db.postrun")


def close_unusable_or_obsolete(task=None, **_) -> None:
    if not getattr(task.request, "is_eager", False):
        close_old_connections()
