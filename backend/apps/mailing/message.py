"""The email a delivery is sent as: its content, the metadata the provider echoes in
tracking events, and the header that lets the provider drop a repeated send."""

import uuid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from .models import EmailDelivery
from .providers import IDEMPOTENCY_HEADERS, configured_provider


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
