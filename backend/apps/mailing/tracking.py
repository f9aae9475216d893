"""What the provider tells us about a message after it left: delivered, bounced, ...

Plain functions; apps.mailing.receivers hands them Anymail's normalized tracking
events (https://anymail.dev/en/stable/sending/tracking/), whatever the provider.
"""

import logging

from anymail.signals import AnymailTrackingEvent, EventType
from django.conf import settings
from django.utils import timezone

from core.validators import parse_id

from .models import EmailDelivery, UndeliverableAddress
from .providers import provider_of
from .undeliverable import mark_undeliverable

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status

# Anymail event type -> delivery status. Engagement events (opened, clicked,
# unsubscribed, ...) say nothing about delivery and are not recorded.
EVENT_STATUS = {
    EventType.QUEUED: Status.SENT,
    EventType.SENT: Status.SENT,
    EventType.DEFERRED: Status.DEFERRED,
    EventType.DELIVERED: Status.DELIVERED,
    EventType.BOUNCED: Status.BOUNCED,
    EventType.REJECTED: Status.REJECTED,
    # The provider accepted the message and then could not send it: final, and
    # not ours to retry (FAILED would let an operator's retry send it again).
    EventType.FAILED: Status.REJECTED,
    EventType.COMPLAINED: Status.COMPLAINED,
}


# Events that say the address itself will not take email (so later emails to it are held),
# and why. Anymail's meanings (https://anymail.dev/en/stable/sending/tracking/): BOUNCED,
# "rejected or blocked by the receiving MTA"; COMPLAINED, "recipient reported as spam";
# REJECTED, "the ESP refused to send the message (e.g. suppression list, policy, invalid
# email)". Not DEFERRED (delayed, may yet be delivered), FAILED (the ESP could not send
# for its own reasons, e.g. a template error), nor any engagement event.
MARKING_EVENTS = {
    EventType.BOUNCED: UndeliverableAddress.Reason.BOUNCED,
    EventType.COMPLAINED: UndeliverableAddress.Reason.COMPLAINED,
    EventType.REJECTED: UndeliverableAddress.Reason.REFUSED,
}

# Some providers' soft bounces, which Anymail also normalises to BOUNCED; the raw event
# tells them apart. The address is not dead, so they mark nothing. (Mailgun's temporary
# failures Anymail already makes DEFERRED.)
SOFT_BOUNCES = {
    # Bounce "Type": only HardBounce says the address is gone (SoftBounce: mailbox full,
    # ...; VirusNotification: the message's fault).
    "postmark": lambda raw: raw.get("Type", "HardBounce") != "HardBounce",
    "brevo": lambda raw: raw.get("event") == "soft_bounce",
    "amazon_ses": lambda raw: (raw.get("bounce") or {}).get("bounceType") != "Permanent",
    # SendGrid's "blocked" bounces are its soft bounces.
    "sendgrid": lambda raw: raw.get("type") == "blocked",
}


def undeliverable_reason(event: AnymailTrackingEvent, esp_name: str) -> str | None:
    """The reason the event marks its address undeliverable (UndeliverableAddress.Reason),
    or None when it does not."""
    reason = MARKING_EVENTS.get(event.event_type)
    if reason == UndeliverableAddress.Reason.BOUNCED:
        soft = SOFT_BOUNCES.get(provider_of(esp_name))
        raw = event.esp_event
        if soft is not None and isinstance(raw, dict) and soft(raw):
            return None
    return reason


def record_tracking_event(event: AnymailTrackingEvent, esp_name: str = "") -> str:
    """Move the event's delivery forward; return "updated", "unchanged", "unknown",
    "ignored" (not a delivery event) or "disabled" (EMAIL_TRACKING_ENABLED is off).

    Safe to call with the same event any number of times, in any order.
    """
    if not settings.EMAIL_TRACKING_ENABLED:
        logger.info("%s tracking event ignored: EMAIL_TRACKING_ENABLED is off", esp_name)
        return "disabled"
    new_status = EVENT_STATUS.get(event.event_type)
    if new_status is None:
        return "ignored"
    delivery = _delivery_it_is_about(event, esp_name)
    if delivery is None:
        return "unknown"
    # Marked first, so the delivery's last error can say so; a replayed event finds the
    # mark already there and changes nothing.
    reason = undeliverable_reason(event, esp_name)
    if reason is not None:
        mark_undeliverable(
            event.recipient or delivery.to_email,
            reason,
            describe(event, esp_name),
            delivery=delivery,
            since=event.timestamp,
        )
    if not _move_forward(delivery, new_status, event, esp_name, marked=reason is not None):
        logger.info(
            "Email delivery %s: %s event changes nothing (already %s)",
            delivery.pk,
            event.event_type,
            EmailDelivery.objects.filter(pk=delivery.pk).values_list("status", flat=True).first(),
        )
        return "unchanged"
    logger.info(
        "Email delivery %s is now %s (%s event, message id %r)",
        delivery.pk,
        new_status,
        event.event_type,
        event.message_id,
    )
    return "updated"


def _delivery_it_is_about(event: AnymailTrackingEvent, esp_name: str) -> EmailDelivery | None:
    """The event's delivery, if it has one and went out through this provider."""
    delivery = find_delivery(event)
    if delivery is None:
        logger.info(
            "%s %s event for unknown message id %r ignored",
            esp_name,
            event.event_type,
            event.message_id,
        )
        return None
    if delivery.provider and delivery.provider != provider_of(esp_name):
        logger.warning(
            "%s %s event for email delivery %s ignored: it was sent through %s",
            esp_name,
            event.event_type,
            delivery.pk,
            delivery.provider,
        )
        return None
    return delivery


def _move_forward(
    delivery: EmailDelivery,
    new_status: str,
    event: AnymailTrackingEvent,
    esp_name: str,
    *,
    marked: bool = False,
) -> bool:
    """Record the event on the delivery if it is further on (EmailDelivery.PROGRESS)
    than the delivery's status; whether it was. `marked`: the event marked the address
    undeliverable, which the delivery's last error says."""
    now = timezone.now()
    changes = {"status": new_status, "tracked_at": event.timestamp or now, "updated_at": now}
    if not delivery.provider_message_id and event.message_id:
        changes["provider_message_id"] = event.message_id
    if new_status in EmailDelivery.PROBLEMS:
        changes["last_error"] = describe(event, esp_name)
        if marked:
            changes["last_error"] += (
                "\nThe address is marked undeliverable (Undeliverable addresses in the admin): "
                "later emails to it are held until it is corrected or the mark cleared."
            )
    progress = EmailDelivery.PROGRESS
    behind = [status for status, rank in progress.items() if rank < progress[new_status]]
    # Compare-and-set: two events for one message racing in two web processes
    # cannot step back past each other.
    return bool(EmailDelivery.objects.filter(pk=delivery.pk, status__in=behind).update(**changes))


def find_delivery(event: AnymailTrackingEvent) -> EmailDelivery | None:
    """The delivery the event is about: by the provider's message id, or else by the
    metadata we sent along, while we have not stored the message id yet.

    The second way covers an event that overtakes our own record of the send (the
    worker died, or is still waiting out a timeout, after the provider accepted).
    It only matches a row without a message id whose recipient and metadata agree
    with the event, so another deployment's ids on a shared provider account do not.
    """
    if event.message_id:
        found = EmailDelivery.objects.filter(provider_message_id=event.message_id).first()
        if found is not None:
            return found
    metadata = event.metadata or {}
    delivery_id = parse_id(str(metadata.get("delivery_id", "")), EmailDelivery)
    if delivery_id is None:
        return None
    candidate = EmailDelivery.objects.filter(pk=delivery_id, provider_message_id="").first()
    if candidate is None:
        return None
    # The address it went to: its own, or one it had before it was re-addressed.
    addresses = {candidate.to_email.lower()}
    addresses.update(str(change.get("old", "")).lower() for change in candidate.readdressed)
    if event.recipient and event.recipient.lower() not in addresses:
        return None
    if any(str(metadata.get(key)) != str(value) for key, value in candidate.metadata.items()):
        return None
    return candidate


def describe(event: AnymailTrackingEvent, esp_name: str) -> str:
    """The provider's own words about a problem, for the delivery's last error."""
    reason = f" ({event.reject_reason})" if event.reject_reason else ""
    summary = f"{esp_name} reported {event.event_type}{reason}"
    text = ": ".join(str(part) for part in (event.description, event.mta_response) if part)
    return f"{summary}: {text}" if text else summary
