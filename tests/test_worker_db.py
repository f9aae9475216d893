"""Workers keep their database connections between tasks as Django keeps them between
requests: Celery's Django fixup no longer closes them around every task."""

from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun

from core import worker_db
from core.celery import app


class FakeTask:
    """What the task_prerun/postrun receivers read of a task."""

    def __init__(self, is_eager: bool):
        self.request = SimpleNamespace(is_eager=is_eager, delivery_info={}, args=(), kwargs={})


@pytest.fixture
def worker_fixup(monkeypatch):
    [fixup] = [each for each in app._fixups if hasattr(type(each), "worker_fixup")]
    monkeypatch.setattr(fixup.worker_fixup, "db_reuse_max", None)
    yield fixup.worker_fixup
    task_prerun.disconnect(dispatch_uid="core.worker_db.prerun")
    task_postrun.disconnect(dispatch_uid="core.worker_db.postrun")


def test_the_fixup_stops_closing_connections_around_each_task(worker_fixup, monkeypatch):
    closed = []
    monkeypatch.setattr(worker_fixup, "_close_database", lambda: closed.append(True))
    worker_fixup.close_database()
    assert closed == [True]  # without the change: closed before and after every task

    worker_db.leave_connections_to_django(sender=SimpleNamespace(app=app))
    for _ in range(1000):
        worker_fixup.close_database()

    assert closed == [True]


def test_each_task_closes_what_django_would_close_after_a_request(worker_fixup, monkeypatch):
    calls = []
    monkeypatch.setattr(worker_db, "close_old_connections", lambda: calls.append(True))
    worker_db.leave_connections_to_django(sender=SimpleNamespace(app=app))
    task, eager = FakeTask(is_eager=False), FakeTask(is_eager=True)

    task_prerun.send(sender=task, task=task, task_id="1", args=(), kwargs={})
    task_postrun.send(sender=task, task=task, task_id="1", args=(), kwargs={})
    task_prerun.send(sender=eager, task=eager, task_id="2", args=(), kwargs={})

    assert calls == [True, True]
