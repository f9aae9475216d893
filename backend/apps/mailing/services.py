"""Recording and sending emails, once each, through whatever EMAIL_BACKEND is set.

Plain functions; apps.mailing.tasks wraps them with the retry policy.
"""

import datetime as dt
import logging
import smtplib
import time
from collections.abc import Iterable

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .models import EmailDelivery

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status


class TransientEmailError(Exception):
    """Sending failed in a way that may pass (provider 5xx/429, timeout, connection)."""


class PermanentEmailError(Exception):
    """Sending failed in a way that retrying will not fix (4xx, refused address)."""


class DeliveryBusy(TransientEmailError):
    """Another attempt is sending this delivery right now."""


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
    with transaction.atomic():
        delivery, created = EmailDelivery.objects.get_or_create(
            idempotency_key=idempotency_key, defaults=content
        )
        if not created and delivery.status in EmailDelivery.SENDABLE:
            EmailDelivery.objects.filter(pk=delivery.pk, status__in=EmailDelivery.SENDABLE).update(
                **content, updated_at=timezone.now()
            )
            delivery.refresh_from_db()
    return delivery, created


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
    return isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError)


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


def _claim(delivery_id: int) -> bool:
    """Atomically move the delivery to SENDING; False if it is not ours to send now.

    A SENDING row older than the task's hard time limit belongs to an attempt
    that died, so it may be claimed again.
    """
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    return bool(
        EmailDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status__in=EmailDelivery.SENDABLE) | Q(status=Status.SENDING, sending_since__lt=stale)
        )
        .update(
            status=Status.SENDING, sending_since=now, attempts=F("attempts") + 1, updated_at=now
        )
    )


def send_delivery(delivery_id: int) -> str:
    """Send the delivery unless it has already left; return what happened.

    Raises TransientEmailError (retry later) or PermanentEmailError (give up), having
    recorded the error on the delivery.

    Where a duplicate is still possible: none of the supported providers takes an
    idempotency key on its send API, so a message the provider accepted but that we
    could not record is sent again by the next attempt. That happens when
    - this process dies between the provider's answer and `record_sent` (milliseconds;
      the next attempt waits out CELERY_TASK_TIME_LIMIT before it reclaims the row), or
    - the request times out after the provider accepted it (a timeout is retried
      because far more often nothing arrived; ANYMAIL_REQUESTS_TIMEOUT stays generous).
    With tracking webhooks on, either gap closes as soon as the provider reports on
    the message: the event finds the row by the `delivery_id` in its metadata and
    marks it as left, and no later attempt sends it again.
    """
    delivery = EmailDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise PermanentEmailError(f"no email delivery with id {delivery_id}")
    if not _claim(delivery_id):
        delivery.refresh_from_db()
        if delivery.status in EmailDelivery.LEFT:
            logger.info(
                "Email delivery %s already left (%s); not sending again",
                delivery_id,
                delivery.status,
            )
            return "already-sent"
        raise DeliveryBusy(f"email delivery {delivery_id} is being sent by another attempt")

    delivery.refresh_from_db()
    message = build_message(delivery)
    try:
        message.send()
    except Exception as exc:
        transient = is_transient(exc)
        error = describe_error(exc)
        # A tracking event may have shown meanwhile that the message left after all.
        EmailDelivery.objects.filter(pk=delivery_id).exclude(status__in=EmailDelivery.LEFT).update(
            status=Status.RETRYING if transient else Status.FAILED,
            last_error=error,
            updated_at=timezone.now(),
        )
        if transient:
            logger.warning("Email delivery %s failed, will retry: %s", delivery_id, error)
            raise TransientEmailError(error) from exc
        logger.error("Email delivery %s failed for good: %s", delivery_id, error)
        raise PermanentEmailError(error) from exc

    anymail_status = getattr(message, "anymail_status", None)
    message_id = (getattr(anymail_status, "message_id", None) or "") if anymail_status else ""
    record_sent(delivery_id, message_id)
    logger.info(
        "Email delivery %s sent to %s (message id %r)", delivery_id, delivery.to_email, message_id
    )
    return "sent"


def record_sent(delivery_id: int, message_id: str, *, tries: int = 3, pause: float = 1.0) -> None:
    """Record that the provider accepted the message; it must not be sent again.

    Runs right after the provider's answer, before anything else, and tries again
    on a dropped database connection: until this row says SENT, a later attempt
    would send a duplicate. A tracking event that arrived first (DELIVERED, ...)
    is kept.
    """
    for attempt in range(1, tries + 1):
        try:
            now = timezone.now()
            EmailDelivery.objects.filter(pk=delivery_id).update(
                status=Case(
                    When(status__in=EmailDelivery.LEFT, then=F("status")),
                    default=Value(Status.SENT),
                ),
                provider_message_id=message_id,
                sent_at=now,
                last_error="",
                updated_at=now,
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


def mark_failed(delivery_id: int, error: str) -> None:
    """Record a final failure, unless the delivery has left meanwhile."""
    EmailDelivery.objects.filter(pk=delivery_id).exclude(status__in=EmailDelivery.LEFT).update(
        status=Status.FAILED, last_error=error, updated_at=timezone.now()
    )
