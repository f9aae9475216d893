"""Addresses the provider said not to send to again, and the emails held for them.

A hard bounce, a spam complaint or a provider's refusal marks the address
(UndeliverableAddress: why, in the provider's words, and since when); the sending task
then holds every later email to it (HELD: still owed, never sent by itself) instead of
handing it to the provider. An operator clearing the mark, or correcting the user's
address (apps.mailing.readdress), releases them.

Reads are in apps.mailing.selectors (open_marks, open_mark_for, held_to); open_marks is
importable from here too, beside clear_mark, for pages that list and clear marks.
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from anymail.exceptions import AnymailRecipientsRefused
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.audit import log_changes
from core.enqueue import enqueue_on_commit

from .addresses import address_failures
from .models import EmailDelivery, UndeliverableAddress
from .selectors import held_to, open_mark_for, open_marks

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status
Reason = UndeliverableAddress.Reason

PERMISSION = "mailing.clear_undeliverableaddress"

__all__ = [
    "PERMISSION",
    "Planned",
    "clear_mark",
    "held_note",
    "mark_refused",
    "mark_undeliverable",
    "open_marks",
    "plan_clear",
    "release",
]

Enqueue = Callable[[int], object]


def mark_undeliverable(
    address: str,
    reason: str,
    detail: str,
    *,
    delivery: EmailDelivery | None = None,
    since: dt.datetime | None = None,
) -> tuple[UndeliverableAddress, bool]:
    """Mark the address undeliverable, unless it already is; (its open mark, created).

    A replayed event, or a second one racing this in another process, finds the open
    mark and changes nothing: the partial unique constraint keeps one per address.
    """
    email = address.strip().lower()
    existing = open_mark_for(email)
    if existing is not None:
        return existing, False
    try:
        # A savepoint, on this rare path only: a lost race must not break the caller's
        # transaction.
        with transaction.atomic():
            mark = UndeliverableAddress.objects.create(
                email=email,
                reason=reason,
                detail=detail,
                since=since or timezone.now(),
                delivery=delivery,
            )
    except IntegrityError:
        return open_mark_for(email), False
    logger.warning(
        "Address %s marked undeliverable (%s, email delivery %s): later emails to it are "
        "held until the address is corrected or the mark cleared. %s",
        email,
        reason,
        delivery.pk if delivery else None,
        detail.splitlines()[0] if detail else "",
    )
    return mark, True


def mark_refused(delivery: EmailDelivery, exc: AnymailRecipientsRefused, described: str) -> str:
    """The provider refused the delivery's recipient at send time (suppressed: it bounced
    or complained before; or invalid): mark the address, and return the delivery's
    last error, in words that say so."""
    statuses = _recipient_statuses(exc)
    why = (
        "as invalid"
        if statuses == {"invalid"}
        else "because it is suppressed there (inactive after an earlier hard bounce or "
        "spam complaint)"
    )
    mark, _ = mark_undeliverable(delivery.to_email, Reason.REFUSED, described, delivery=delivery)
    return (
        f"The provider refused {delivery.to_email} {why}; not sent. The address is marked "
        f"undeliverable (mark {mark.pk}): later emails to it are held. Correct the user's "
        "address under Users in the admin (this email is then sent there), or, once the "
        "provider accepts the address again, clear the mark under Undeliverable "
        f"addresses.\n{described}"
    )


def _recipient_statuses(exc: AnymailRecipientsRefused) -> set[str]:
    """What the provider said of each recipient ("rejected", "invalid"), as Anymail read it."""
    status = getattr(getattr(exc, "email_message", None), "anymail_status", None)
    return set(getattr(status, "status", None) or ())


def held_note(mark: UndeliverableAddress, whose: str = "the user") -> str:
    """A held delivery's last error: why, since when, and how to release it."""
    since = timezone.localtime(mark.since)
    detail = mark.detail.splitlines()[0] if mark.detail else ""
    return (
        f"Held, not sent: {mark.email} is marked undeliverable since "
        f"{since:%Y-%m-%d %H:%M %Z} ({mark.get_reason_display().lower()}"
        f"{f': {detail}' if detail else ''}). To send it, correct {whose}'s address under "
        f"Users in the admin, or clear mark {mark.pk} under Undeliverable addresses."
    )


def release(deliveries: Iterable[EmailDelivery], *, note: str, by, enqueue: Enqueue) -> list[int]:
    """Queue these deliveries again now (each still HELD, or FAILED, as it was read),
    each sent once the transaction commits; the ids released.

    Compare-and-set on the status read: a delivery cancelled meanwhile stays cancelled.
    """
    now = timezone.now()
    released = []
    for delivery in deliveries:
        error = f"{note}\nBefore that: {delivery.last_error}" if delivery.last_error else note
        if EmailDelivery.objects.filter(pk=delivery.pk, status=delivery.status).update(
            status=Status.QUEUED, next_attempt_at=now, last_error=error, updated_at=now
        ):
            log_changes(by, [delivery], f"Status {delivery.status} → {Status.QUEUED}. {note}")
            enqueue_on_commit(enqueue, delivery.pk, what=f"email delivery {delivery.pk}")
            released.append(delivery.pk)
    return released


@dataclass
class Planned:
    """What clearing these marks would do: each open mark with the emails it releases,
    and the marks already cleared."""

    marks: list[tuple[UndeliverableAddress, list[EmailDelivery]]] = field(default_factory=list)
    already_cleared: list[UndeliverableAddress] = field(default_factory=list)


def plan_clear(marks: QuerySet[UndeliverableAddress]) -> Planned:
    """What clear_mark would do to each of these marks as they are now; writes nothing."""
    planned = Planned()
    for mark in marks.order_by("email"):
        if mark.cleared_at is not None:
            planned.already_cleared.append(mark)
        else:
            planned.marks.append((mark, list(_released_by_clearing(mark))))
    return planned


def _released_by_clearing(mark: UndeliverableAddress) -> QuerySet[EmailDelivery]:
    """The emails owed to the marked address: held, or refused there at send time (FAILED
    with an address failure; the one that marked it, usually)."""
    refused = EmailDelivery.objects.filter(
        address_failures(), status=Status.FAILED, to_email__iexact=mark.email
    )
    return (held_to(mark.email) | refused).order_by("pk")


@transaction.atomic
def clear_mark(mark: UndeliverableAddress, by, *, enqueue: Enqueue) -> list[int]:
    """Clear the open mark as the user `by` (who needs mailing.clear_undeliverableaddress)
    and send the emails it held; the ids of the deliveries released (queued again, each
    sent after commit through `enqueue`, e.g. apps.mailing.tasks.send_email_delivery.delay).

    A mark already cleared changes nothing ([]). The mark is kept, with who cleared it and
    when, as the record of what happened.
    """
    if not by.has_perm(PERMISSION):
        raise PermissionDenied(
            f"{by.get_username()} may not clear undeliverable address marks: "
            f"that takes the {PERMISSION} permission"
        )
    now = timezone.now()
    if not UndeliverableAddress.objects.filter(pk=mark.pk, cleared_at__isnull=True).update(
        cleared_at=now, cleared_by=by.get_username()
    ):
        return []
    mark.cleared_at, mark.cleared_by = now, by.get_username()
    note = (
        f"Released by {by.get_username()} at {timezone.localtime(now):%Y-%m-%d %H:%M:%S %Z}: "
        f"the undeliverable mark on {mark.email} was cleared."
    )
    released = release(_released_by_clearing(mark), note=note, by=by, enqueue=enqueue)
    log_changes(
        by,
        [mark],
        f"Cleared the mark on {mark.email}; "
        + (
            f"released email delivery(ies) {', '.join(map(str, released))}."
            if released
            else "no email was held."
        ),
    )
    logger.info(
        "Undeliverable mark %s on %s cleared by %s; released email delivery(ies) %s",
        mark.pk,
        mark.email,
        by.get_username(),
        released,
    )
    return released
