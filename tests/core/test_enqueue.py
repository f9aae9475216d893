"""Queuing work whose row is already owed in the database (core.enqueue): a broker that is
away is logged and left to the reconcilers, anything else is raised; after commit, the
worker finds the rows it reads."""

import logging

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from core.enqueue import enqueue_on_commit, enqueue_or_leave


class Enqueue:
    """Stands in for a task's `delay`: records its calls, or raises `error`."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[tuple] = []
        self.error = error

    def __call__(self, *args, **kwargs):
        if self.error is not None:
            raise self.error
        self.calls.append((args, kwargs))


def test_a_message_the_broker_takes_is_queued_with_its_arguments(caplog):
    enqueue = Enqueue()

    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        assert enqueue_or_leave(enqueue, 7, "2025-09", what="report request 3", resend_key="k")

    assert enqueue.calls == [((7, "2025-09"), {"resend_key": "k"})]
    assert caplog.records == []


@pytest.mark.parametrize(
    "error",
    [BrokerError("Error 111 connecting to 127.0.0.1:6379."), ConnectionError("reset by peer")],
    ids=["kombu", "socket"],
)
def test_a_broker_away_is_one_warning_and_leaves_the_row_owed(caplog, error):
    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        assert enqueue_or_leave(Enqueue(error), 7, what="email delivery 12") is False

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        f"Could not queue email delivery 12 ({type(error).__name__}: {error}); it stays owed"
    )


def test_any_other_failure_is_not_taken_for_a_broker_away():
    with pytest.raises(TypeError, match="not JSON serializable"):
        enqueue_or_leave(
            Enqueue(TypeError("Object of type Decimal is not JSON serializable")), 1, what="x"
        )


@pytest.mark.django_db
def test_inside_a_transaction_the_message_waits_for_the_commit(django_capture_on_commit_callbacks):
    enqueue = Enqueue()

    with django_capture_on_commit_callbacks() as callbacks:
        assert enqueue_on_commit(enqueue, 5, what="email delivery 5") is True  # not known yet
        assert enqueue.calls == []

    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueue.calls == [((5,), {})]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_is_queued_at_once_and_says_how_it_went(caplog):
    enqueue = Enqueue()
    assert not transaction.get_connection().in_atomic_block

    assert enqueue_on_commit(enqueue, 5, what="email delivery 5") is True
    assert enqueue.calls == [((5,), {})]
    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        assert enqueue_on_commit(Enqueue(BrokerError("away")), 6, what="email delivery 6") is False
    assert "Could not queue email delivery 6" in caplog.text
