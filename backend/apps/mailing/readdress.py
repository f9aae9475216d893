"""Emails that have not left go to the address their user has now.

When an operator corrects a user's address, every delivery of theirs that has not left
(nor been cancelled, nor is at the provider right now) is re-addressed, with a record of
the change on the delivery (readdressed: old, new, when, by whom). Those held for the old,
undeliverable address are released, and those that failed because of the address are
queued again. A delivery that has left is only sent again as a new copy (a resend).

The sending task re-addresses too, at send time (apps.mailing.sending): an owed email
never goes to an address its user no longer has, whoever changed it and however.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from core.audit import log_changes
from core.enqueue import enqueue_on_commit

from .addresses import address_failures, user_address_error, whose
from .models import EmailDelivery
from .selectors import open_mark_for
from .undeliverable import held_note

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status

# What may be re-addressed: whatever has not left and is not being sent right now (that
# attempt's outcome is recorded when it ends; its next one is re-addressed at send time).
READDRESSABLE = EmailDelivery.CANCELLABLE


@dataclass
class Readdressed:
    """Delivery ids: re-addressed, and of those, the ones queued again (released from
    held, or failed because of the address) and the ones still held (the new address is
    marked undeliverable too)."""

    readdressed: list[int] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    still_held: list[int] = field(default_factory=list)


@transaction.atomic
def readdress_owed(user, *, by, enqueue: Callable[[int], object]) -> Readdressed:
    """Send the user's owed emails to their address as saved now, as the user `by` (the
    caller checked that `by` may change this user, e.g. the admin's user form); queue the
    ones to send again through `enqueue` once the transaction commits.

    Raises ValueError when the saved address is empty or invalid: there is nowhere to
    send them (the admin's form never saves such an address).
    """
    new = user.email
    problem = user_address_error(user)
    if problem:
        raise ValueError(problem)
    new_mark = open_mark_for(new)
    now = timezone.now()
    done = Readdressed()
    owed = EmailDelivery.objects.filter(user=user, status__in=READDRESSABLE).exclude(to_email=new)
    address_failed = set(
        owed.filter(address_failures(), status=Status.FAILED).values_list("pk", flat=True)
    )
    operator = by.get_username()
    for delivery in owed.order_by("pk"):
        entry = {"old": delivery.to_email, "new": new, "at": now.isoformat(), "by": operator}
        changes = {"to_email": new, "readdressed": [*delivery.readdressed, entry]}
        changes["updated_at"] = now
        what = f"Re-addressed {delivery.to_email} → {new} by {operator}"
        queue = False
        if delivery.status == Status.HELD and new_mark is not None:
            changes["last_error"] = held_note(new_mark, whose(user))
            what += "; still held: the new address is marked undeliverable too"
        elif delivery.status == Status.HELD or delivery.pk in address_failed:
            queue = True
            before = f"\nBefore that: {delivery.last_error}" if delivery.last_error else ""
            changes.update(
                status=Status.QUEUED,
                next_attempt_at=now,
                last_error=f"{what} at {timezone.localtime(now):%Y-%m-%d %H:%M:%S %Z}; "
                f"queued again.{before}",
            )
            what += "; queued again"
        # Compare-and-set on what was read: a delivery claimed or cancelled meanwhile is
        # left to that (its next attempt is re-addressed at send time).
        if not EmailDelivery.objects.filter(
            pk=delivery.pk, status=delivery.status, to_email=delivery.to_email
        ).update(**changes):
            continue
        done.readdressed.append(delivery.pk)
        if queue:
            done.queued.append(delivery.pk)
            enqueue_on_commit(enqueue, delivery.pk, what=f"email delivery {delivery.pk}")
        elif delivery.status == Status.HELD:
            done.still_held.append(delivery.pk)
        log_changes(by, [delivery], f"{what}.")
        logger.info("Email delivery %s (%s): %s", delivery.pk, delivery.status, what)
    return done
