"""Queuing work whose record is already in the database: the broker is the fast path.

Reports and emails are rows first (apps.commission ReportRequest, apps.mailing
EmailDelivery); a message only tells a worker to start now. When the broker cannot
take it, the row stays owed and the reconcilers queue it later, so the caller logs
the miss and carries on instead of failing half-done.
"""

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

# What publishing raises when the broker is away: kombu wraps the client's errors in
# its OperationalError; a plain ConnectionError can come through from below it.
BROKER_AWAY = (BrokerError, ConnectionError)


def enqueue_or_leave(enqueue: Callable[..., object], *args, what: str, **kwargs) -> bool:
    """Call `enqueue(*args, **kwargs)`; True if the broker took it. When it did not,
    log `what` (which names the owed row) and return False."""
    try:
        enqueue(*args, **kwargs)
    except BROKER_AWAY as exc:
        logger.warning(
            "Could not queue %s (%s: %s); it stays owed in the database and the "
            "reconciler queues it again",
            what,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def enqueue_on_commit(enqueue: Callable[..., object], *args, what: str, **kwargs) -> bool:
    """enqueue_or_leave once the current transaction commits, so that the worker finds
    the rows it is about to read. Outside a transaction that is now, and the result says
    whether the broker took it; inside one it is unknown yet, and counts as taken."""
    outcome = []
    transaction.on_commit(
        lambda: outcome.append(enqueue_or_leave(enqueue, *args, what=what, **kwargs))
    )
    return outcome[0] if outcome else True
