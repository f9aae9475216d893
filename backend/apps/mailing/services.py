"""Recording and sending emails, once each, through whatever EMAIL_BACKEND is set.

Plain functions; apps.mailing.tasks wraps them with the retry policy.
"""

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable

from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
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

    The one window for a duplicate: the provider accepted the message and this
    process died before the next statement stored SENT. The next attempt (after the
    hard time limit) cannot know the message left and sends it again.
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
        error = f"{type(exc).__name__}: {exc}"
        EmailDelivery.objects.filter(pk=delivery_id).update(
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
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=Status.SENT,
        provider_message_id=message_id,
        sent_at=timezone.now(),
        last_error="",
        updated_at=timezone.now(),
    )
    logger.info(
        "Email delivery %s sent to %s (message id %r)", delivery_id, delivery.to_email, message_id
    )
    return "sent"


def mark_failed(delivery_id: int, error: str) -> None:
    """Record a final failure, unless the delivery has left meanwhile."""
    EmailDelivery.objects.filter(pk=delivery_id).exclude(status__in=EmailDelivery.LEFT).update(
        status=Status.FAILED, last_error=error, updated_at=timezone.now()
    )
