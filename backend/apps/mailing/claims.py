"""A send attempt as the delivery's row records it, each change a compare-and-set: the
claim that starts it (to SENDING), then sent, failed for now, or failed for good; or,
before the provider sees it, re-addressed to its user's address or held for an address
marked undeliverable.

Two statements are written in SQL, their names and status lists taken from the model
and its status sets (core.model_sql): the claim, which the ORM cannot say in one
statement (Django has no UPDATE ... RETURNING), and recording SENT, which the ORM takes
longer to build than the database takes to run, on every email.
"""

import datetime as dt
import functools
import logging
import time

from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from core.model_sql import Table, in_list, select_list

from .models import EmailDelivery, UndeliverableAddress
from .next_attempt import due_after
from .providers import configured_provider

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status

# A retry's message may be handed to the worker a moment before the time stored on the
# row (two clocks, one timer); it is still that attempt.
DUE_TOLERANCE = dt.timedelta(seconds=2)

# A waiting delivery is claimed once it is due; the rest of SENDABLE (FAILED: an
# operator's retry) whenever asked. One round trip: the row comes back with the claim,
# and with what the send needs to know first, both by index: its user's address now
# (user_email: NULL without a user) and the open undeliverable mark, if any, on the
# address it is about to go to (open_mark_id). LOWER() folds ASCII only on SQLite; marks
# are stored lower case (str.lower()), so a non-ASCII capital in an address misses.
CLAIM_SQL = """
    UPDATE {d}
    SET {d.status} = %(sending)s, {d.sending_since} = %(now)s,
        {d.sending_task_id} = %(task_id)s, {d.provider} = %(provider)s,
        {d.next_attempt_at} = NULL, {d.attempts} = {d.attempts} + 1, {d.updated_at} = %(now)s
    WHERE {d.pk} = %(id)s
      AND ({d.status} IN ({whenever_asked})
           OR ({d.status} IN ({waiting}) AND {d.next_attempt_at} <= %(due_by)s))
    RETURNING {columns},
        ({user_email}) AS user_email,
        (SELECT m.{m.pk} FROM {m} m
         WHERE m.{m.cleared_at} IS NULL
           AND m.{m.email} = LOWER(COALESCE(NULLIF(({user_email}), ''), {d}.{d.to_email})))
        AS open_mark_id
"""
USER_EMAIL_SQL = "SELECT u.{u.email} FROM {u} u WHERE u.{u.pk} = {d}.{d.user}"

# A status that has left (GONE) says more than SENT and stays; any other becomes SENT.
RECORD_SENT_SQL = """
    UPDATE {d}
    SET {d.status} = CASE WHEN {d.status} IN ({gone}) THEN {d.status} ELSE %(sent)s END,
        {d.provider_message_id} = %(message_id)s, {d.sent_at} = %(now)s,
        {d.last_error} = '', {d.updated_at} = %(now)s
    WHERE {d.pk} = %(id)s
"""


@functools.cache
def _claim_statement(alias: str) -> tuple[str, dict]:
    whenever_asked, asked_params = in_list(
        "whenever_asked", EmailDelivery.SENDABLE - EmailDelivery.WAITING
    )
    waiting, waiting_params = in_list("waiting", EmailDelivery.WAITING)
    d = Table(EmailDelivery, alias)
    sql = CLAIM_SQL.format(
        d=d,
        m=Table(UndeliverableAddress, alias),
        user_email=USER_EMAIL_SQL.format(u=Table(get_user_model(), alias), d=d),
        whenever_asked=whenever_asked,
        waiting=waiting,
        columns=select_list(EmailDelivery, using=alias),
    )
    return sql, {"sending": Status.SENDING.value, **asked_params, **waiting_params}


@functools.cache
def _record_sent_statement(alias: str) -> tuple[str, dict]:
    gone, gone_params = in_list("gone", EmailDelivery.GONE)
    sql = RECORD_SENT_SQL.format(d=Table(EmailDelivery, alias), gone=gone)
    return sql, {"sent": Status.SENT.value, **gone_params}


def claim(delivery_id: int, task_id: str) -> EmailDelivery | None:
    """Atomically move the delivery to SENDING and return it; None if it is not ours to
    send now. The row carries two more attributes: `user_email`, its user's address now
    (None without a user), and `open_mark_id`, the open UndeliverableAddress mark on the
    address it goes to (the user's, else its own), or None.

    Only a delivery that is due may be claimed, so a stray second message (one the
    reconciler queued while the broker still had the first) cannot start a second
    chain of retries. FAILED is claimed whenever asked: that is an operator's retry.
    A SENDING row older than the task's hard time limit belongs to an attempt that
    died; the reconciler marks it unconfirmed first (apps.mailing.reconcile).
    """
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    sql, constants = _claim_statement(connection.alias)
    params = {
        **constants,
        "now": at(now),
        "task_id": task_id,
        "provider": configured_provider(),
        "id": delivery_id,
        "due_by": at(now + DUE_TOLERANCE),
    }
    # Read to the end: SQLite finishes the UPDATE only then.
    claimed = list(EmailDelivery.objects.raw(sql, params))
    return claimed[0] if claimed else None


def record_sent(delivery_id: int, message_id: str, *, tries: int = 3, pause: float = 1.0) -> None:
    """Record that the provider accepted the message; it must not be sent again.

    Runs right after the provider's answer, before anything else, and tries again
    on a dropped database connection: until this row says SENT, a later attempt
    would send a duplicate. A tracking event that arrived first (DELIVERED, ...)
    is kept.
    """
    for attempt in range(1, tries + 1):
        try:
            sql, constants = _record_sent_statement(connection.alias)
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(
                    sql, {**constants, "id": delivery_id, "message_id": message_id, "now": now}
                )
            return
        except (OperationalError, InterfaceError):
            if attempt == tries:
                logger.critical(
                    "Email delivery %s was accepted by the provider (message id %r) but could "
                    "not be recorded; a retry of this delivery would send it twice",
                    delivery_id,
                    message_id,
                )
                raise
            logger.warning("Recording email delivery %s as sent failed; trying again", delivery_id)
            connection.close()
            time.sleep(pause)


def record_attempt_failed(
    delivery_id: int, status: str, error: str, countdown: float | None
) -> dt.datetime | None:
    """Store the failed attempt's outcome and when the delivery is due next, if ever.

    A tracking event may have shown meanwhile that the message left after all: then
    the row keeps what the event said; an operator's cancel stands too.
    """
    now = timezone.now()
    retry_at = due_after(countdown, now)
    EmailDelivery.objects.filter(pk=delivery_id).exclude(status__in=EmailDelivery.ENDED).update(
        status=status, last_error=error, next_attempt_at=retry_at, updated_at=now
    )
    return retry_at


def record_not_sent(delivery_id: int, error: str, countdown: float) -> dt.datetime:
    """The claimed delivery was not handed to the provider (a 429, or no slot in the
    send rate): it waits `countdown` seconds, and this claim does not count as an
    attempt, so the provider's pace never uses up its retries."""
    now = timezone.now()
    retry_at = due_after(countdown, now)
    EmailDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
        status=Status.RETRYING,
        attempts=Greatest(F("attempts") - 1, 0),
        last_error=error,
        next_attempt_at=retry_at,
        updated_at=now,
    )
    return retry_at


def mark_failed(delivery_id: int, error: str) -> None:
    """Record a final failure, unless the delivery has left or was cancelled meanwhile,
    or its attempt died mid-send (the hard time limit): whether that one reached the
    provider is unknown, and the reconciler marks it unconfirmed."""
    EmailDelivery.objects.filter(pk=delivery_id).exclude(
        status__in={*EmailDelivery.ENDED, Status.SENDING}
    ).update(
        status=Status.FAILED, last_error=error, next_attempt_at=None, updated_at=timezone.now()
    )


def record_readdressed(delivery: EmailDelivery, new: str, by: str) -> bool:
    """The claimed delivery goes to `new`, its user's address now: one UPDATE, which also
    appends the change to its record (readdressed). Whether the row was still ours."""
    now = timezone.now()
    entry = {"old": delivery.to_email, "new": new, "at": now.isoformat(), "by": by}
    updated = EmailDelivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, to_email=delivery.to_email
    ).update(to_email=new, readdressed=[*delivery.readdressed, entry], updated_at=now)
    if updated:
        delivery.to_email, delivery.readdressed = new, [*delivery.readdressed, entry]
    return bool(updated)


def record_held(delivery_id: int, note: str) -> None:
    """The claimed delivery is not sent: its address is marked undeliverable. It waits,
    owed, for an operator (next_attempt_at NULL: nothing sends it by itself), and the
    claim does not count as an attempt."""
    EmailDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
        status=Status.HELD,
        attempts=Greatest(F("attempts") - 1, 0),
        last_error=note,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
