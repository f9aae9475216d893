"""Ending an owed email delivery: an operator's way to stop it, instead of deleting it.

A cancelled delivery keeps its row, so its idempotency key stays taken: asking for
the same email again sends nothing, and sending it after all takes a new key (for a
report, "Email another copy"). Nothing sends it again: the sending task cannot claim
it, the reconciler does not owe it, and a retry of its failed task is refused. A
tracking event that shows the message left after all (it was unconfirmed) still
moves it on, since that is what happened.
"""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.audit import log_changes

from .models import EmailDelivery

Status = EmailDelivery.Status

PERMISSION = "mailing.cancel_delivery"


@dataclass
class Cancellations:
    """The deliveries cancelled (or, planned, to cancel), and why the rest were not."""

    cancelled: list[EmailDelivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "delivery 7 to a@example.com (sent)"


def plan_cancel(deliveries: QuerySet[EmailDelivery]) -> Cancellations:
    """What `cancel_deliveries` would do to these deliveries as they are now; writes nothing."""
    planned = Cancellations()
    for delivery in deliveries.order_by("pk"):
        if delivery.status in EmailDelivery.CANCELLABLE:
            planned.cancelled.append(delivery)
        else:
            planned.refused.append(_refusal(delivery))
    return planned


@transaction.atomic
def cancel_deliveries(deliveries: QuerySet[EmailDelivery], *, by) -> Cancellations:
    """Cancel the deliveries that have not left and are not being sent right now, as
    the user `by` (who needs mailing.cancel_delivery); leave the others, saying why."""
    if not by.has_perm(PERMISSION):
        raise PermissionDenied(
            f"{by.get_username()} may not cancel email deliveries: "
            f"that takes the {PERMISSION} permission"
        )
    planned = plan_cancel(deliveries)
    done = Cancellations(refused=planned.refused)
    now = timezone.now()
    for delivery in planned.cancelled:
        note = f"Cancelled by {by.get_username()} at {now:%Y-%m-%d %H:%M:%S %Z}."
        if delivery.last_error:
            note += f"\nBefore that: {delivery.last_error}"
        # Compare-and-set on the status the row had: the sending task claims with one
        # too, so either it claimed first (now SENDING: refused) or it finds it cancelled.
        if EmailDelivery.objects.filter(pk=delivery.pk, status=delivery.status).update(
            status=Status.CANCELLED, next_attempt_at=None, last_error=note, updated_at=now
        ):
            was, delivery.status = delivery.status, Status.CANCELLED
            log_changes(by, [delivery], f"Status {was} → {Status.CANCELLED}.")
            done.cancelled.append(delivery)
        else:
            delivery.refresh_from_db(fields=["status"])
            done.refused.append(_refusal(delivery))
    return done


def _refusal(delivery: EmailDelivery) -> str:
    if delivery.status == Status.SENDING:
        why = "being sent right now; try again once the attempt ends"
    elif delivery.status == Status.CANCELLED:
        why = "already cancelled"
    else:
        why = f"it has left: {delivery.get_status_display().lower()}"
    return f"delivery {delivery.pk} to {delivery.to_email} ({why})"
