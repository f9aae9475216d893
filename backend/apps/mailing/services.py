"""Recording and sending emails, once each, through whatever EMAIL_BACKEND is set.

Plain functions; apps.mailing.tasks wraps them with the retry policy.
"""

import datetime as dt
import logging
import smtplib
import time
import uuid
from collections.abc import Callable, Iterable

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from urllib3.exceptions import NewConnectionError

from core import upsert
from core.validators import id_error, parse_id

from .models import EmailDelivery
from .provider_connection import kept_backend
from .providers import IDEMPOTENCY_HEADERS, configured_provider

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status


class TransientEmailError(Exception):
    """Sending failed in a way that may pass (provider 5xx/429, timeout, connection).

    `retry_at` is when the delivery is due again (also stored on the row), or None
    when its attempts are used up and nothing will send it by itself.
    """

    def __init__(self, message: str, retry_at: dt.datetime | None = None):
        super().__init__(message)
        self.retry_at = retry_at


class PermanentEmailError(Exception):
    """Sending failed in a way that retrying will not fix (4xx, refused address)."""


# How long to wait before the next attempt, given the attempts made so far; None when
# no attempt is left. The sending task owns this policy (apps.mailing.tasks).
Backoff = Callable[[int], float | None]


def create_delivery(
    *,
    idempotency_key: str,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    attachments: Iterable[dict] = (),
    metadata: dict | None = None,
) -> tuple[EmailDelivery, bool]:
    """The delivery for this key, created on first call; (delivery, created).

    A delivery that has not left yet takes the newest content, so a report rebuilt
    before sending goes out with the newest numbers; one that has left is never touched.
    """
    content = {
        "to_email": to_email,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "attachments": list(attachments),
        "metadata": metadata or {},
    }
    delivery = EmailDelivery(idempotency_key=idempotency_key, **content)
    # One statement, and no savepoint inside the report's transaction: a taken key is
    # no error, so it leaves the transaction usable.
    if upsert.insert(delivery, unique=("idempotency_key",)):
        return delivery, True
    # The key exists: this is the delivery asked for again.
    delivery = EmailDelivery.objects.get(idempotency_key=idempotency_key)
    if delivery.status in EmailDelivery.SENDABLE:
        EmailDelivery.objects.filter(pk=delivery.pk, status__in=EmailDelivery.SENDABLE).update(
            **content, updated_at=timezone.now()
        )
        delivery.refresh_from_db()
    return delivery, False


def build_message(delivery: EmailDelivery) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=delivery.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.to_email],
        reply_to=settings.EMAIL_REPLY_TO or None,
    )
    if delivery.body_html:
        message.attach_alternative(delivery.body_html, "text/html")
    for attachment in delivery.attachments:
        message.attach(attachment["filename"], attachment["content"], attachment["mimetype"])
    # Anymail passes these to the provider, which echoes them in tracking webhooks;
    # other backends ignore them.
    message.metadata = {**delivery.metadata, "delivery_id": str(delivery.pk)}
    message.tags = [delivery.idempotency_key.split(":", 1)[0]]
    header = IDEMPOTENCY_HEADERS.get(configured_provider())
    if header:
        # The same for every attempt at this delivery, so a resend after an unknown
        # outcome is dropped by the provider if the first one got through.
        message.extra_headers[header] = str(
            uuid.uuid5(uuid.NAMESPACE_URL, delivery.idempotency_key)
        )
    return message


def is_transient(exc: BaseException) -> bool:
    """Whether a send error may pass by itself, so that trying later makes sense."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return False
    if isinstance(exc, AnymailAPIError):
        # No status: the request never got an answer (timeout, connection refused).
        return exc.status_code is None or exc.status_code == 429 or exc.status_code >= 500
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    return isinstance(
        exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError | SoftTimeLimitExceeded
    )


def may_have_left(exc: BaseException) -> bool:
    """Whether a transient send error leaves it unknown if the provider took the message.

    An answer (5xx, 429, an SMTP 4xx) says it did not, and so does a connection that
    never opened. Anything else (a timeout waiting for the answer, a connection dropped
    mid-call, the task's time limit) may have come after the provider accepted it.
    """
    if isinstance(exc, AnymailAPIError) and exc.status_code is not None:
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return False
    cause = exc.__cause__ or exc  # Anymail raises its error from the requests one
    if isinstance(cause, requests.ConnectTimeout | ConnectionRefusedError):
        return False
    if isinstance(cause, requests.ConnectionError) and cause.args:
        # requests wraps urllib3's MaxRetryError, whose reason says what went wrong.
        return not isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)
    return True


def describe_error(exc: BaseException) -> str:
    """The error as operators need it: with the provider's own answer when there is one."""
    text = f"{type(exc).__name__}: {exc}"
    response = getattr(exc, "response", None)
    if isinstance(exc, AnymailError) and exc.status_code is None and response is not None:
        # Anymail leaves the answer out when the call itself succeeded (all recipients
        # refused), yet it is the answer that says why.
        text += f"\n{exc.esp_name or 'Provider'} API response {response.status_code}: "
        text += response.text[:2000]
    return text


# A retry's message may be handed to the worker a moment before the time stored on the
# row (two clocks, one timer); it is still that attempt.
DUE_TOLERANCE = dt.timedelta(seconds=2)


# Claiming a delivery: one statement that moves a due delivery to SENDING and returns
# it. (The ORM takes an UPDATE and then a SELECT: a round trip more and three times
# the CPU, on every email.)
CLAIM_SQL = """
    UPDATE mailing_emaildelivery
    SET status = %(sending)s, sending_since = %(now)s, sending_task_id = %(task_id)s,
        provider = %(provider)s, next_attempt_at = NULL, attempts = attempts + 1,
        updated_at = %(now)s
    WHERE id = %(id)s
      AND (status = %(failed)s
           OR (status IN (%(queued)s, %(retrying)s, %(unconfirmed)s)
               AND next_attempt_at <= %(due_by)s))
    RETURNING {columns}
"""
# The statuses CLAIM_SQL treats as due when their time has come; FAILED is claimed
# whenever asked (an operator's retry).
assert {Status.QUEUED, Status.RETRYING, Status.UNCONFIRMED} == EmailDelivery.SENDABLE - {
    Status.FAILED
}


def _claim(delivery_id: int, task_id: str) -> EmailDelivery | None:
    """Atomically move the delivery to SENDING and return it; None if it is not ours to
    send now.

    Only a delivery that is due may be claimed, so a stray second message (one the
    reconciler queued while the broker still had the first) cannot start a second
    chain of retries. FAILED is claimed whenever asked: that is an operator's retry.
    A SENDING row older than the task's hard time limit belongs to an attempt that
    died; the reconciler marks it unconfirmed first (apps.mailing.reconcile).
    """
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    params = {
        "sending": Status.SENDING,
        "now": at(now),
        "task_id": task_id,
        "provider": configured_provider(),
        "id": delivery_id,
        "failed": Status.FAILED,
        "queued": Status.QUEUED,
        "retrying": Status.RETRYING,
        "unconfirmed": Status.UNCONFIRMED,
        "due_by": at(now + DUE_TOLERANCE),
    }
    # Read to the end: SQLite finishes the UPDATE only then.
    sql = CLAIM_SQL.format(columns=upsert.columns(EmailDelivery))
    claimed = list(EmailDelivery.objects.raw(sql, params))
    return claimed[0] if claimed else None


def wait_before_resending(backoff: Backoff, attempts: int) -> float | None:
    """After a send that may have left: long enough for the provider's event to arrive
    (with tracking on), and never shorter than the ordinary backoff."""
    countdown = backoff(attempts)
    if countdown is None or not settings.EMAIL_TRACKING_ENABLED:
        return countdown
    return max(countdown, settings.EMAIL_UNCONFIRMED_WAIT)


def due_after(countdown: float | None, now: dt.datetime) -> dt.datetime | None:
    """When a delivery waiting `countdown` seconds from `now` is due; None: never."""
    return now + dt.timedelta(seconds=countdown) if countdown is not None else None


def _record_attempt_failed(
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


def _previous_run_died(delivery: EmailDelivery, task_id: str, backoff: Backoff) -> None:
    """This very task message is running again while the row still says it is sending:
    the worker process running it died mid-attempt (killed, out of memory, hard time
    limit) and the broker handed the message back. Whether the provider got the
    message is unknown; record that and raise, to wait before sending again."""
    error = f"The attempt in task {task_id} died while sending; the provider may have the message."
    countdown = wait_before_resending(backoff, delivery.attempts)
    retry_at = _record_attempt_failed(delivery.pk, Status.UNCONFIRMED, error, countdown)
    logger.warning("Email delivery %s: %s", delivery.pk, error)
    raise TransientEmailError(error, retry_at)


def send_delivery(delivery_id: int, *, task_id: str = "", backoff: Backoff) -> str:
    """Send the delivery if it is due and has not left; return what happened:
    "sent", "already-sent", "cancelled" (an operator ended it), or "not-due" (another
    attempt owns it, or it waits for its retry time or for the provider's tracking
    event: nothing to do now).

    Raises TransientEmailError (due again at its `retry_at`) or PermanentEmailError
    (given up), having recorded the outcome on the delivery. An error whose outcome is
    unknown (see may_have_left) makes the delivery UNCONFIRMED: with tracking on, the
    provider's event marks it as left before the wait is over, and nothing is sent
    again; without tracking, the next attempt may send a second copy.
    """
    parsed_id = parse_id(delivery_id, EmailDelivery)
    if parsed_id is None:
        raise PermanentEmailError(id_error("email delivery id", delivery_id, EmailDelivery))
    delivery_id = parsed_id
    # The usual case, a delivery that is due, takes this one round trip; why a claim
    # failed is only looked into when it did.
    delivery = _claim(delivery_id, task_id)
    if delivery is None:
        delivery = EmailDelivery.objects.filter(pk=delivery_id).first()
        if delivery is None:
            raise PermanentEmailError(f"no email delivery with id {delivery_id}")
        if delivery.status == Status.SENDING and task_id and delivery.sending_task_id == task_id:
            _previous_run_died(delivery, task_id, backoff)
        if delivery.has_left:
            logger.info(
                "Email delivery %s already left (%s); not sending again",
                delivery_id,
                delivery.status,
            )
            return "already-sent"
        if delivery.status == Status.CANCELLED:
            logger.info("Email delivery %s was cancelled by an operator; not sending", delivery_id)
            return "cancelled"
        logger.info(
            "Email delivery %s is not due (%s, next attempt %s); nothing to do",
            delivery_id,
            delivery.status,
            delivery.next_attempt_at,
        )
        return "not-due"

    try:
        message = build_message(delivery)
        with kept_backend() as kept:
            message.connection = kept
            message.send()
    except Exception as exc:
        error = describe_error(exc)
        if not is_transient(exc):
            _record_attempt_failed(delivery_id, Status.FAILED, error, None)
            logger.error("Email delivery %s failed for good: %s", delivery_id, error)
            raise PermanentEmailError(error) from exc
        if may_have_left(exc):
            status = Status.UNCONFIRMED
            countdown = wait_before_resending(backoff, delivery.attempts)
        else:
            countdown = backoff(delivery.attempts)
            status = Status.RETRYING if countdown is not None else Status.FAILED
        retry_at = _record_attempt_failed(delivery_id, status, error, countdown)
        logger.warning(
            "Email delivery %s failed (%s), %s: %s",
            delivery_id,
            status,
            f"due again at {retry_at:%H:%M:%S}" if retry_at else "no attempts left",
            error,
        )
        raise TransientEmailError(error, retry_at) from exc

    anymail_status = getattr(message, "anymail_status", None)
    message_id = (getattr(anymail_status, "message_id", None) or "") if anymail_status else ""
    record_sent(delivery_id, message_id)
    logger.info(
        "Email delivery %s sent to %s (message id %r)", delivery_id, delivery.to_email, message_id
    )
    return "sent"


# Written out: the ORM took three times as long to build this UPDATE as to run it, on
# every email. A status that has left (EmailDelivery.GONE) stays as it is.
RECORD_SENT_SQL = """
    UPDATE mailing_emaildelivery
    SET status = CASE
            WHEN status IN (%(sent)s, %(deferred)s, %(delivered)s, %(bounced)s,
                            %(rejected)s, %(complained)s) THEN status
            ELSE %(sent)s
        END,
        provider_message_id = %(message_id)s, sent_at = %(now)s, last_error = '',
        updated_at = %(now)s
    WHERE id = %(id)s
"""
GONE_PARAMS = {status.name.lower(): status.value for status in EmailDelivery.GONE}
assert set(GONE_PARAMS) == {"sent", "deferred", "delivered", "bounced", "rejected", "complained"}


def record_sent(delivery_id: int, message_id: str, *, tries: int = 3, pause: float = 1.0) -> None:
    """Record that the provider accepted the message; it must not be sent again.

    Runs right after the provider's answer, before anything else, and tries again
    on a dropped database connection: until this row says SENT, a later attempt
    would send a duplicate. A tracking event that arrived first (DELIVERED, ...)
    is kept.
    """
    for attempt in range(1, tries + 1):
        try:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(
                    RECORD_SENT_SQL,
                    {**GONE_PARAMS, "id": delivery_id, "message_id": message_id, "now": now},
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


def duplicate_risk(delivery_id) -> str:
    """Why sending this delivery again may give its recipient a second copy ("" if it
    may not): its last attempt's outcome is unknown."""
    delivery = EmailDelivery.objects.filter(pk=delivery_id, status=Status.UNCONFIRMED).first()
    if delivery is None:
        return ""
    last_error = (delivery.last_error or "no error recorded").splitlines()[0]
    return (
        f"Email delivery {delivery.pk} to {delivery.to_email} is unconfirmed: its last "
        f"attempt may have reached the provider ({last_error}), "
        "so a copy may already have arrived."
    )


def accept_duplicate_risk(delivery_id, accepted_by: str) -> bool:
    """An operator chose to send an unconfirmed delivery again: make it due now."""
    now = timezone.now()
    accepted = EmailDelivery.objects.filter(pk=delivery_id, status=Status.UNCONFIRMED).update(
        next_attempt_at=now, updated_at=now
    )
    if accepted:
        logger.warning(
            "Email delivery %s: %s sends it again although a copy may have arrived",
            delivery_id,
            accepted_by,
        )
    return bool(accepted)


def mark_failed(delivery_id: int, error: str) -> None:
    """Record a final failure, unless the delivery has left or was cancelled meanwhile,
    or its attempt died mid-send (the hard time limit): whether that one reached the
    provider is unknown, and the reconciler marks it unconfirmed."""
    EmailDelivery.objects.filter(pk=delivery_id).exclude(
        status__in={*EmailDelivery.ENDED, Status.SENDING}
    ).update(
        status=Status.FAILED, last_error=error, next_attempt_at=None, updated_at=timezone.now()
    )
