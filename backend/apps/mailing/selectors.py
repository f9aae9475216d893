"""Reading email deliveries (what is still owed, and what of it is stalled; the months
they were for) and the addresses marked undeliverable."""

import datetime as dt

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from core.overdue import overdue_before

from .models import EmailDelivery, UndeliverableAddress

Status = EmailDelivery.Status


def delivery_that_ended(idempotency_key: str) -> EmailDelivery | None:
    """The delivery for this key if nothing will send it again: it has left us (sent,
    delivered, bounced, ...) or an operator cancelled it."""
    return EmailDelivery.objects.filter(
        idempotency_key=idempotency_key, status__in=EmailDelivery.ENDED
    ).first()


def cancelled_delivery(delivery_id: int | None) -> EmailDelivery | None:
    """The delivery with this (parsed) id if an operator cancelled it."""
    return EmailDelivery.objects.filter(pk=delivery_id, status=Status.CANCELLED).first()


def delivery_periods() -> list[str]:
    """The months deliveries were made for, newest first ("" for rows without one)."""
    return list(
        EmailDelivery.objects.order_by("-period").values_list("period", flat=True).distinct()
    )


def owed_deliveries() -> QuerySet[EmailDelivery]:
    """Deliveries the system still owes somebody (not left, not failed for good)."""
    return EmailDelivery.objects.filter(status__in=EmailDelivery.OWED)


def stuck_sending_before(now: dt.datetime) -> dt.datetime:
    # The hard time limit kills any attempt by then; the margin covers the worker
    # noticing and the clocks of two machines.
    return now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)


def stuck_sending(now: dt.datetime) -> QuerySet[EmailDelivery]:
    """Deliveries whose attempt died mid-call: SENDING beyond the hard time limit."""
    return EmailDelivery.objects.filter(
        status=Status.SENDING, sending_since__lt=stuck_sending_before(now)
    )


def overdue_deliveries(now: dt.datetime) -> QuerySet[EmailDelivery]:
    """Owed deliveries overdue (core.overdue) whose message never ran them (SENDING
    rows have no due time: stuck_sending covers them)."""
    return owed_deliveries().filter(next_attempt_at__lt=overdue_before(now))


def stalled_deliveries(now: dt.datetime | None = None) -> QuerySet[EmailDelivery]:
    """Owed deliveries that nothing is moving: overdue beyond RECONCILE_STALLED_AFTER,
    stuck sending, or unconfirmed with no attempt left (an operator decides)."""
    now = now or timezone.now()
    return (
        overdue_deliveries(now)
        | stuck_sending(now)
        | owed_deliveries().filter(status=Status.UNCONFIRMED, next_attempt_at__isnull=True)
    )


def open_marks() -> QuerySet[UndeliverableAddress]:
    """Addresses marked undeliverable and not cleared: emails to them are held."""
    return UndeliverableAddress.objects.filter(cleared_at__isnull=True)


def open_mark_for(address: str) -> UndeliverableAddress | None:
    """The open mark on this address (marks are stored lower case), if any."""
    return open_marks().filter(email=address.strip().lower()).first()


def held_to(address: str) -> QuerySet[EmailDelivery]:
    """Deliveries held because this address is marked undeliverable."""
    return EmailDelivery.objects.filter(status=Status.HELD, to_email__iexact=address.strip())
