"""Reading email deliveries: what is still owed, and what of it is stalled."""

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.enqueue import stalled_before

from .models import EmailDelivery
from .reconcile import stuck_sending_before

Status = EmailDelivery.Status


def delivery_that_left(idempotency_key: str) -> EmailDelivery | None:
    """The delivery for this key if it has left us (sent, delivered, bounced, ...)."""
    return EmailDelivery.objects.filter(
        idempotency_key=idempotency_key, status__in=EmailDelivery.GONE
    ).first()


def owed_deliveries() -> QuerySet[EmailDelivery]:
    """Deliveries the system still owes somebody (not left, not failed for good)."""
    return EmailDelivery.objects.filter(status__in=EmailDelivery.OWED)


def stalled_deliveries(now: dt.datetime | None = None) -> QuerySet[EmailDelivery]:
    """Owed deliveries that nothing is moving: overdue beyond RECONCILE_STALLED_AFTER,
    stuck sending, or unconfirmed with no attempt left (an operator decides)."""
    now = now or timezone.now()
    return owed_deliveries().filter(
        Q(next_attempt_at__lt=stalled_before(now))
        | Q(status=Status.SENDING, sending_since__lt=stuck_sending_before(now))
        | Q(status=Status.UNCONFIRMED, next_attempt_at__isnull=True)
    )
