"""Owed deliveries the broker lost, found in the database and queued again.

An owed delivery is due at `next_attempt_at`, and some message should run it then:
the first one, a retry's countdown, or a wait for the provider's tracking event.
When that message is gone (Redis lost it, a killed worker held it unacknowledged
until the visibility timeout), the delivery is overdue; once it is
RECONCILE_STALLED_AFTER seconds overdue, this queues it again. A delivery stuck in
SENDING beyond the hard time limit lost its attempt mid-call: whether the provider
got the message is unknown, so it becomes UNCONFIRMED and waits as any unknown
outcome does.

Every change is a compare-and-set on the row, so two reconcilers (two beats, or the
command beside beat) never queue the same delivery twice in one round, and a message
that turns up late finds the delivery sent or not due, and does nothing.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from core.enqueue import enqueue_or_leave

from .models import EmailDelivery
from .next_attempt import Backoff, due_after, wait_before_resending
from .selectors import overdue_deliveries, stuck_sending

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status

# Rows handled per round at most; the next round (a minute later) takes the rest.
BATCH_SIZE = 500

# (delivery id, when to run it: None for now)
Enqueue = Callable[[int, dt.datetime | None], object]


@dataclass
class DeliveriesReconciled:
    unconfirmed: list[int] = field(default_factory=list)  # stuck in SENDING
    requeued: list[int] = field(default_factory=list)
    broker_away: bool = False

    def as_dict(self) -> dict:
        return {
            "unconfirmed": len(self.unconfirmed),
            "requeued": len(self.requeued),
            "broker_away": self.broker_away,
        }


def reconcile_deliveries(
    enqueue: Enqueue, backoff: Backoff, *, dry_run: bool = False
) -> DeliveriesReconciled:
    """Mark deliveries stuck in SENDING as unconfirmed, and queue again the owed ones
    that are overdue; with `dry_run`, only say which."""
    now = timezone.now()
    done = DeliveriesReconciled()
    _mark_stuck_unconfirmed(now, enqueue, backoff, done, dry_run)
    if not done.broker_away:
        _requeue_overdue(now, enqueue, done, dry_run)
    if done.unconfirmed or done.requeued:
        logger.warning(
            "Reconciled owed email deliveries%s: %d stuck sending marked unconfirmed, "
            "%d overdue queued again (%s)",
            " (dry run)" if dry_run else "",
            len(done.unconfirmed),
            len(done.requeued),
            ", ".join(map(str, done.requeued[:20])),
        )
    return done


def _mark_stuck_unconfirmed(
    now: dt.datetime, enqueue: Enqueue, backoff: Backoff, done: DeliveriesReconciled, dry_run: bool
) -> None:
    """Deliveries whose attempt died mid-call become UNCONFIRMED, due once the provider's
    event had time to arrive; each is queued for then."""
    for delivery in stuck_sending(now).order_by("sending_since")[:BATCH_SIZE]:
        if dry_run:
            done.unconfirmed.append(delivery.pk)
            continue
        retry_at = due_after(wait_before_resending(backoff, delivery.attempts), now)
        # Compare-and-set on the attempt seen: a new claim since is left alone.
        marked = EmailDelivery.objects.filter(
            pk=delivery.pk, status=Status.SENDING, sending_since=delivery.sending_since
        ).update(
            status=Status.UNCONFIRMED,
            next_attempt_at=retry_at,
            last_error=(
                f"Sending since {delivery.sending_since:%Y-%m-%d %H:%M:%S %Z} and never "
                "finished (the worker died); the provider may have the message."
            ),
            updated_at=now,
        )
        if not marked:
            continue
        done.unconfirmed.append(delivery.pk)
        logger.warning(
            "Email delivery %s was stuck sending since %s: unconfirmed, %s",
            delivery.pk,
            delivery.sending_since,
            f"due again at {retry_at:%H:%M:%S}" if retry_at else "no attempts left",
        )
        if retry_at and not enqueue_or_leave(
            enqueue, delivery.pk, retry_at, what=f"email delivery {delivery.pk}"
        ):
            done.broker_away = True
            return


def _requeue_overdue(
    now: dt.datetime, enqueue: Enqueue, done: DeliveriesReconciled, dry_run: bool
) -> None:
    """Owed deliveries overdue (core.overdue) are made due now and queued again."""
    overdue = overdue_deliveries(now).order_by("next_attempt_at")
    for delivery_id, due in overdue.values_list("pk", "next_attempt_at")[:BATCH_SIZE]:
        if dry_run:
            done.requeued.append(delivery_id)
            continue
        # Due now: the message queued next may claim it; a later round sees it as
        # overdue again only if this message is lost too.
        if not EmailDelivery.objects.filter(pk=delivery_id, next_attempt_at=due).update(
            next_attempt_at=now, updated_at=now
        ):
            continue
        if not enqueue_or_leave(enqueue, delivery_id, None, what=f"email delivery {delivery_id}"):
            done.broker_away = True
            return
        done.requeued.append(delivery_id)
