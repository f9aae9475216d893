"""The warning for an email worker started in the prefork pool (core.worker_pool_check),
as Celery's own worker sets itself up, without starting it."""

import logging

import pytest
from celery.concurrency import get_implementation

from core.celery import app
from core.worker_pool_check import warn_of_a_slow_email_pool


class SetUpWorker:
    """What celeryd_after_setup hands over: the worker, with its pool chosen."""

    def __init__(self, pool: str):
        self.app = app
        self.pool_cls = get_implementation(pool)
        self.concurrency = 2


@pytest.fixture
def consuming(monkeypatch):
    """The queues -Q chose, as the worker's setup leaves them on the app."""

    def consume(queues: set[str]) -> None:
        monkeypatch.setattr(app.amqp.queues, "_consume_from", {q: None for q in queues})

    return consume


@pytest.mark.parametrize(
    ("pool", "queues", "warned"),
    [
        ("prefork", {"email"}, True),
        ("threads", {"email"}, False),
        ("prefork", {"reports"}, False),
    ],
)
def test_only_an_email_worker_on_prefork_is_warned(consuming, caplog, pool, queues, warned):
    consuming(queues)
    with caplog.at_level(logging.WARNING, logger="core.worker_pool_check"):
        warn_of_a_slow_email_pool(sender="email@host", instance=SetUpWorker(pool))

    assert ("--pool threads" in caplog.text) is warned
