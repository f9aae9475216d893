"""Sending one delivery, once: claim it, hand it to EMAIL_BACKEND, record what happened.

A plain function; apps.mailing.tasks wraps it with the retry policy.
"""

import logging
import random

from anymail.exceptions import AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage

from core.validators import id_error, parse_id

from . import claims, rate_limit, undeliverable
from .addresses import address_error, user_address_error, whose
from .message import build_message
from .models import EmailDelivery, UndeliverableAddress
from .next_attempt import Backoff, wait_before_resending
from .provider_connection import kept_backend
from .send_errors import (
    PermanentEmailError,
    TransientEmailError,
    describe_error,
    is_transient,
    may_have_left,
    provider_busy_for,
)

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status

# Who re-addressed a delivery that the sending task found its user's address changed for.
AT_SEND_TIME = "the user's address at send time"


def send_delivery(delivery_id: int, *, task_id: str = "", backoff: Backoff) -> str:
    """Send the delivery if it is due and has not left; return what happened:
    "sent", "already-sent", "cancelled" (an operator ended it), "held" (its address is
    marked undeliverable: it waits, owed, for an operator), or "not-due" (another
    attempt owns it, or it waits for its retry time or for the provider's tracking
    event: nothing to do now).

    It goes to its user's address as it is now (recorded on the delivery when that
    changed), and only to a valid one: an invalid address fails it for good, naming
    the user.

    Raises TransientEmailError (due again at its `retry_at`) or PermanentEmailError
    (given up), having recorded the outcome on the delivery. An error whose outcome is
    unknown (see may_have_left) makes the delivery UNCONFIRMED: with tracking on, the
    provider's event marks it as left before the wait is over, and nothing is sent
    again; without tracking, the next attempt may send a second copy.
    """
    parsed_id = parse_id(delivery_id, EmailDelivery)
    if parsed_id is None:
        raise PermanentEmailError(id_error("email delivery id", delivery_id, EmailDelivery))
    # The usual case, a delivery that is due, takes this one round trip; why a claim
    # failed is only looked into when it did.
    delivery = claims.claim(parsed_id, task_id)
    if delivery is None:
        return _not_claimed(parsed_id, task_id, backoff)
    if not _addressed(delivery):
        return _not_claimed(parsed_id, "", backoff)
    if delivery.open_mark_id is not None and _held(delivery):
        return "held"
    message = _send(delivery, backoff)
    message_id = _provider_message_id(message)
    claims.record_sent(delivery.pk, message_id)
    logger.info(
        "Email delivery %s sent to %s (message id %r)", delivery.pk, delivery.to_email, message_id
    )
    return "sent"


def _not_claimed(delivery_id: int, task_id: str, backoff: Backoff) -> str:
    """Why the delivery was not ours to send, as send_delivery reports it."""
    delivery = EmailDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise PermanentEmailError(f"no email delivery with id {delivery_id}")
    if delivery.status == Status.SENDING and task_id and delivery.sending_task_id == task_id:
        _previous_run_died(delivery, task_id, backoff)
    if delivery.has_left:
        logger.info(
            "Email delivery %s already left (%s); not sending again", delivery_id, delivery.status
        )
        return "already-sent"
    if delivery.status == Status.CANCELLED:
        logger.info("Email delivery %s was cancelled by an operator; not sending", delivery_id)
        return "cancelled"
    if delivery.status == Status.HELD:
        logger.info("Email delivery %s is held: %s", delivery_id, delivery.last_error)
        return "held"
    logger.info(
        "Email delivery %s is not due (%s, next attempt %s); nothing to do",
        delivery_id,
        delivery.status,
        delivery.next_attempt_at,
    )
    return "not-due"


def _previous_run_died(delivery: EmailDelivery, task_id: str, backoff: Backoff) -> None:
    """This very task message is running again while the row still says it is sending:
    the worker process running it died mid-attempt (killed, out of memory, hard time
    limit) and the broker handed the message back. Whether the provider got the
    message is unknown; record that and raise, to wait before sending again."""
    error = f"The attempt in task {task_id} died while sending; the provider may have the message."
    countdown = wait_before_resending(backoff, delivery.attempts)
    retry_at = claims.record_attempt_failed(delivery.pk, Status.UNCONFIRMED, error, countdown)
    logger.warning("Email delivery %s: %s", delivery.pk, error)
    raise TransientEmailError(error, retry_at)


def _addressed(delivery: EmailDelivery) -> bool:
    """Point the claimed delivery at its user's address now, if that changed, and check
    the address; False if the row is no longer ours (a tracking event showed an earlier
    attempt left). Raises PermanentEmailError, the delivery FAILED, for an address that
    cannot be sent to. The user is only read on those rare paths, for their name."""
    current = delivery.user_email  # from the claim; None without a user
    if current is not None and current != delivery.to_email:
        if not current or address_error(current):
            _fail_for_good(delivery, user_address_error(delivery.user, current))
        old = delivery.to_email
        if not claims.record_readdressed(delivery, current, AT_SEND_TIME):
            return False
        logger.info(
            "Email delivery %s re-addressed %s → %s at send time",
            delivery.pk,
            old,
            current,
        )
    if address_error(delivery.to_email):
        _fail_for_good(delivery, address_error(delivery.to_email, delivery.user))
    return True


def _fail_for_good(delivery: EmailDelivery, error: str) -> None:
    """Fail the claimed delivery before it reaches the provider; raises PermanentEmailError."""
    claims.record_attempt_failed(delivery.pk, Status.FAILED, error, None)
    logger.error("Email delivery %s failed for good: %s", delivery.pk, error)
    raise PermanentEmailError(error)


def _held(delivery: EmailDelivery) -> bool:
    """Hold the claimed delivery if its address is still marked undeliverable (the claim
    found the mark); whether it was."""
    mark = UndeliverableAddress.objects.filter(pk=delivery.open_mark_id, cleared_at=None).first()
    if mark is None:  # cleared since the claim
        return False
    note = undeliverable.held_note(mark, whose(delivery.user) if delivery.user_id else "the user")
    claims.record_held(delivery.pk, note)
    logger.warning("Email delivery %s to %s held: %s", delivery.pk, delivery.to_email, note)
    return True


def _send(delivery: EmailDelivery, backoff: Backoff) -> EmailMessage:
    """Hand the claimed delivery to the provider; on any error, record the attempt's
    outcome and raise TransientEmailError or PermanentEmailError."""
    try:
        message = build_message(delivery)
        rate_limit.wait_for_turn()
        with kept_backend() as backend:
            message.connection = backend
            message.send()
    except Exception as exc:
        raise _attempt_failed(delivery, exc, backoff) from exc
    return message


def _attempt_failed(
    delivery: EmailDelivery, exc: Exception, backoff: Backoff
) -> TransientEmailError | PermanentEmailError:
    """Record what the failed attempt leaves the delivery as; the error to raise."""
    error = describe_error(exc)
    if isinstance(exc, AnymailRecipientsRefused):
        # Suppressed (or invalid) at the provider: sending there again is pointless, so
        # the address is marked and later emails to it are held.
        error = undeliverable.mark_refused(delivery, exc, error)
    not_sent_for = _not_sent_for(delivery, exc, backoff)
    if not_sent_for is not None:
        retry_at = claims.record_not_sent(delivery.pk, error, not_sent_for)
        logger.info(
            "Email delivery %s not sent yet, due at %s: %s",
            delivery.pk,
            f"{retry_at:%H:%M:%S}",
            error,
        )
        return TransientEmailError(error, retry_at)
    if not is_transient(exc):
        claims.record_attempt_failed(delivery.pk, Status.FAILED, error, None)
        logger.error("Email delivery %s failed for good: %s", delivery.pk, error)
        return PermanentEmailError(error)
    if may_have_left(exc):
        status = Status.UNCONFIRMED
        countdown = wait_before_resending(backoff, delivery.attempts)
    else:
        countdown = backoff(delivery.attempts)
        status = Status.RETRYING if countdown is not None else Status.FAILED
    retry_at = claims.record_attempt_failed(delivery.pk, status, error, countdown)
    logger.warning(
        "Email delivery %s failed (%s), %s: %s",
        delivery.pk,
        status,
        f"due again at {retry_at:%H:%M:%S}" if retry_at else "no attempts left",
        error,
    )
    return TransientEmailError(error, retry_at)


def _not_sent_for(delivery: EmailDelivery, exc: Exception, backoff: Backoff) -> float | None:
    """Seconds to wait when the message surely did not leave and the provider only asked
    for a slower pace (a 429, or our own send rate): not a failed attempt. None otherwise."""
    if isinstance(exc, rate_limit.NotYourTurn):
        return exc.retry_in
    busy_for = provider_busy_for(exc)
    if busy_for is None:
        return None
    if not busy_for:  # no Retry-After: this delivery waits its usual backoff
        return backoff(delivery.attempts) or settings.EMAIL_RETRY_BACKOFF_MAX
    # Everyone waits the Retry-After, this delivery up to a second more, so that the
    # deliveries refused together do not all come back in the same instant.
    rate_limit.pause(busy_for)
    return busy_for + random.uniform(0, 1)  # noqa: S311  (a spread, not a secret)


def _provider_message_id(message: EmailMessage) -> str:
    """The provider's id for the sent message (Anymail sets it), "" for other backends."""
    anymail_status = getattr(message, "anymail_status", None)
    return (getattr(anymail_status, "message_id", None) or "") if anymail_status else ""
