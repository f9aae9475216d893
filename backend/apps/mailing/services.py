"""Recording an email the system owes: one delivery per idempotency key, whoever asks.

Sending it is apps.mailing.sending's (through the email task); what happens to it
after it left, apps.mailing.tracking's.
"""

from collections.abc import Iterable

from django.utils import timezone

from core import upsert

from .models import EmailDelivery

# Who re-addressed a delivery that was asked for again with another address.
ASKED_AGAIN = "asked for again with the user's address"


def create_delivery(
    *,
    idempotency_key: str,
    to_email: str,
    subject: str,
    body_text: str,
    body_html: str = "",
    attachments: Iterable[dict] = (),
    metadata: dict | None = None,
    user=None,
    period: str = "",
    resend_key: str = "",
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
    delivery = EmailDelivery(
        idempotency_key=idempotency_key,
        user=user,
        period=period,
        resend_key=resend_key,
        **content,
    )
    # One statement, and no savepoint inside the report's transaction: a taken key is
    # no error, so it leaves the transaction usable.
    if upsert.insert(delivery, unique=("idempotency_key",)):
        return delivery, True
    # The key exists: this is the delivery asked for again.
    delivery = EmailDelivery.objects.get(idempotency_key=idempotency_key)
    if delivery.status in EmailDelivery.SENDABLE:
        now = timezone.now()
        if delivery.to_email != to_email:
            # Asked again for a new address (the user's was corrected): on record, as
            # every change of where an owed email goes.
            change = {"old": delivery.to_email, "new": to_email, "at": now.isoformat()}
            content["readdressed"] = [*delivery.readdressed, {**change, "by": ASKED_AGAIN}]
        EmailDelivery.objects.filter(pk=delivery.pk, status__in=EmailDelivery.SENDABLE).update(
            **content, updated_at=now
        )
        delivery.refresh_from_db()
    return delivery, False
