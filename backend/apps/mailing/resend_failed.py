"""Sending a failed email delivery again: an operator's retry, from the delivery itself.

The delivery goes back to QUEUED, due now, and its send task is queued once the
transaction commits: from then on it is owed like any new one, so if the broker loses
the message the reconciler queues it again. Only FAILED deliveries: nothing about them
says a copy may have arrived (that is UNCONFIRMED, retried from its failed task after a
warning), and a cancelled one stays cancelled. Its attempts are not reset: a send that
fails again for a reason that passes fails for good at once, and says so.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.audit import log_changes
from core.enqueue import enqueue_on_commit

from .models import EmailDelivery

Status = EmailDelivery.Status

# The permission to send a failure again, whether from its task or from its delivery.
PERMISSION = "taskops.retry_failed_task"


@dataclass
class SendAgain:
    """The deliveries queued again (or, planned, to queue), and why the rest were left."""

    queued: list[EmailDelivery] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)  # "delivery 7 to a@x.com (sent)"


def plan_send_again(deliveries: QuerySet[EmailDelivery]) -> SendAgain:
    """What `send_again` would do to these deliveries as they are now; writes nothing."""
    planned = SendAgain()
    for delivery in deliveries.order_by("pk"):
        if delivery.status == Status.FAILED:
            planned.queued.append(delivery)
        else:
            planned.left_alone.append(_left_alone(delivery))
    return planned


@transaction.atomic
def send_again(
    deliveries: QuerySet[EmailDelivery], *, by, enqueue: Callable[[int], object]
) -> SendAgain:
    """Queue the failed deliveries again as the user `by` (who needs the retry
    permission), each through `enqueue(delivery_id)` after commit; leave the others,
    saying why. One admin log entry per delivery, under `by`'s name."""
    if not by.has_perm(PERMISSION):
        raise PermissionDenied(
            f"{by.get_username()} may not send failed emails again: "
            f"that takes the {PERMISSION} permission"
        )
    planned = plan_send_again(deliveries)
    done = SendAgain(left_alone=planned.left_alone)
    now = timezone.now()
    for delivery in planned.queued:
        note = f"Sent again by {by.get_username()} at {now:%Y-%m-%d %H:%M:%S %Z}."
        if delivery.last_error:
            note += f"\nBefore that: {delivery.last_error}"
        # Compare-and-set: a send claims FAILED rows too, and a cancel may come first.
        if EmailDelivery.objects.filter(pk=delivery.pk, status=Status.FAILED).update(
            status=Status.QUEUED, next_attempt_at=now, last_error=note, updated_at=now
        ):
            delivery.status = Status.QUEUED
            log_changes(by, [delivery], f"Sent again: status {Status.FAILED} → {Status.QUEUED}.")
            enqueue_on_commit(enqueue, delivery.pk, what=f"email delivery {delivery.pk}")
            done.queued.append(delivery)
        else:
            delivery.refresh_from_db(fields=["status", "next_attempt_at"])
            done.left_alone.append(_left_alone(delivery))
    return done


def _left_alone(delivery: EmailDelivery) -> str:
    status = delivery.status
    if status == Status.CANCELLED:
        why = "cancelled by an operator; for a report, use 'Email another copy' on its team"
    elif status == Status.UNCONFIRMED:
        why = (
            "its last attempt may have reached the provider; wait for the provider's "
            "event, or retry its failed task, which asks you to confirm a possible duplicate"
        )
    elif status == Status.HELD:
        why = "held: its address is marked undeliverable; correct it or clear the mark"
    elif status == Status.SENDING:
        why = "being sent right now"
    elif status in EmailDelivery.WAITING and delivery.next_attempt_at:
        due = f"{delivery.next_attempt_at:%Y-%m-%d %H:%M %Z}"
        why = f"{delivery.get_status_display().lower()}, due {due}: it is sent without you"
    elif delivery.has_left:
        why = f"it has left: {delivery.get_status_display().lower()}"
    else:
        why = f"not failed: {delivery.get_status_display().lower()}"
    return f"delivery {delivery.pk} to {delivery.to_email} ({why})"
