"""Postmark's tracking webhooks, through Anymail's real view at /anymail/postmark/tracking/.

Payloads are in Postmark's documented format
(https://postmarkapp.com/developer/webhooks/webhooks-overview), which
anymail/webhooks/postmark.py turns into the normalized events our receiver gets.
"""

import base64
import logging
import uuid

import pytest
from django.core import mail

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery, record_sent, send_delivery
from apps.mailing.tasks import email_backoff

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
URL = "/anymail/postmark/tracking/"
SECRET = "postmark-hook:Zx8-long-random-password"


@pytest.fixture(autouse=True)
def tracking_on(settings):
    """Postmark is the configured provider, with tracking on: its webhook answers."""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.EMAIL_TRACKING_ENABLED = True
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}


def auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def sent_delivery(to_email: str = "boss@example.com") -> EmailDelivery:
    """A delivery the provider accepted, as send_delivery leaves it."""
    delivery, _ = create_delivery(
        idempotency_key=f"test:{uuid.uuid4()}",
        to_email=to_email,
        subject="Commission report",
        body_text="Report",
        metadata={"manager_id": "7", "period": "2025-09"},
    )
    record_sent(delivery.pk, str(uuid.uuid4()))
    delivery.refresh_from_db()
    return delivery


def metadata(delivery: EmailDelivery) -> dict:
    """What build_message sends along, and Postmark echoes back."""
    return {**delivery.metadata, "delivery_id": str(delivery.pk)}


def delivery_event(delivery: EmailDelivery, message_id: str | None = None) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id or delivery.provider_message_id,
        "Recipient": delivery.to_email,
        "Tag": "commission-report",
        "DeliveredAt": "2025-10-01T06:00:05Z",
        "Details": "Test delivery webhook details",
        "Metadata": metadata(delivery),
    }


def bounce_event(delivery: EmailDelivery, message_id: str | None = None) -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "commission-report",
        "MessageID": message_id or delivery.provider_message_id,
        "Metadata": metadata(delivery),
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": delivery.to_email,
        "From": "reports@example.com",
        "BouncedAt": "2025-10-01T06:00:07Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Commission report",
        "Content": "<Full dump of bounce>",
    }


def spam_complaint_event(delivery: EmailDelivery) -> dict:
    return {
        **bounce_event(delivery),
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
    }


def post(client, event: dict, **headers):
    return client.post(URL, event, content_type="application/json", **headers)


def snapshot(delivery: EmailDelivery) -> dict:
    return EmailDelivery.objects.filter(pk=delivery.pk).values().get()


def test_authenticated_delivery_event_marks_the_delivery_delivered(client):
    delivery = sent_delivery()

    response = post(client, delivery_event(delivery), **auth())

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.tracked_at.isoformat() == "2025-10-01T06:00:05+00:00"


@pytest.mark.parametrize(
    "headers",
    [{}, auth("postmark-hook:wrong-password"), auth("someone:" + SECRET.split(":")[1])],
    ids=["no credentials", "wrong password", "wrong user"],
)
def test_event_without_the_right_credentials_is_refused_and_changes_nothing(client, headers):
    delivery = sent_delivery()
    before = snapshot(delivery)

    response = post(client, bounce_event(delivery), **headers)

    assert response.status_code in (400, 401)
    assert snapshot(delivery) == before


def test_the_same_event_twice_changes_nothing_the_second_time(client):
    delivery = sent_delivery()
    assert post(client, bounce_event(delivery), **auth()).status_code == 200
    after_first = snapshot(delivery)

    response = post(client, bounce_event(delivery), **auth())

    assert response.status_code == 200
    assert snapshot(delivery) == after_first
    assert after_first["status"] == Status.BOUNCED
    assert "does not exist" in after_first["last_error"]


def test_a_late_delivered_does_not_undo_a_bounce_or_a_complaint(client):
    bounced, complained = sent_delivery(), sent_delivery()
    post(client, bounce_event(bounced), **auth())
    post(client, delivery_event(complained), **auth())
    post(client, spam_complaint_event(complained), **auth())

    post(client, delivery_event(bounced), **auth())
    post(client, delivery_event(complained), **auth())

    bounced.refresh_from_db()
    complained.refresh_from_db()
    assert bounced.status == Status.BOUNCED
    assert complained.status == Status.COMPLAINED
    assert "marked this message as spam" in complained.last_error


def test_unknown_message_id_is_ignored_with_a_log_line(client, caplog):
    delivery = sent_delivery()
    before = snapshot(delivery)
    event = {**delivery_event(delivery, message_id="not-one-of-ours"), "Metadata": {}}

    with caplog.at_level(logging.INFO, logger="apps.mailing.tracking"):
        response = post(client, event, **auth())

    assert response.status_code == 200
    assert snapshot(delivery) == before
    assert "unknown message id 'not-one-of-ours' ignored" in caplog.text


def test_no_webhook_answers_while_tracking_is_disabled(client, settings):
    settings.EMAIL_TRACKING_ENABLED = False
    delivery = sent_delivery()
    before = snapshot(delivery)

    response = post(client, bounce_event(delivery), **auth())

    assert response.status_code == 404
    assert snapshot(delivery) == before


def test_event_that_overtakes_our_record_of_the_send_is_kept(client):
    """The provider reports on the message before the worker stored SENT and the
    message id: the event finds the row by its metadata, and the worker's late
    write keeps the provider's news."""
    delivery, _ = create_delivery(
        idempotency_key="test:overtaken", to_email="boss@example.com", subject="S", body_text="B"
    )
    EmailDelivery.objects.filter(pk=delivery.pk).update(status=Status.SENDING)
    message_id = str(uuid.uuid4())

    response = post(client, delivery_event(delivery, message_id=message_id), **auth())
    record_sent(delivery.pk, message_id)

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.provider_message_id == message_id
    assert delivery.sent_at is not None


def test_event_for_an_unconfirmed_delivery_stops_a_duplicate(client, settings):
    """The provider accepted the message but our request timed out: once its webhook
    has told us, the retry sends nothing."""
    delivery, _ = create_delivery(
        idempotency_key="test:timed-out", to_email="boss@example.com", subject="S", body_text="B"
    )
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.UNCONFIRMED, last_error="AnymailRequestsAPIError: Read timed out."
    )

    post(client, delivery_event(delivery, message_id=str(uuid.uuid4())), **auth())
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    assert send_delivery(delivery.pk, backoff=email_backoff) == "already-sent"
    assert mail.outbox == []
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED


def test_metadata_match_needs_the_same_recipient(client):
    delivery, _ = create_delivery(
        idempotency_key="test:other", to_email="boss@example.com", subject="S", body_text="B"
    )
    EmailDelivery.objects.filter(pk=delivery.pk).update(status=Status.RETRYING)
    event = {**delivery_event(delivery, message_id=str(uuid.uuid4())), "Recipient": "x@other.org"}

    post(client, event, **auth())

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING
    assert delivery.provider_message_id == ""


# ONLY THE CONFIGURED PROVIDER, ONLY WELL-FORMED BODIES
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/anymail/sendgrid/tracking/",
        "/anymail/mailgun/tracking/",
        "/anymail/brevo/tracking/",
        "/anymail/amazon_ses/tracking/",
        "/anymail/postmark/inbound/",
        "/anymail/mandrill/tracking/",
    ],
)
def test_only_the_configured_providers_tracking_webhook_answers(client, url):
    response = client.post(url, {}, content_type="application/json", **auth())
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body", ["", "not json", "[]", '[{"RecordType": "Delivery"}]', "null", '"x"', "{"]
)
def test_a_malformed_body_is_a_400_not_a_500(client, body):
    response = client.post(URL, body, content_type="application/json", **auth())
    assert response.status_code == 400


def test_a_body_of_the_right_kind_but_the_wrong_shape_is_a_400(client):
    event = {"RecordType": "Delivery", "MessageID": 5, "Metadata": "not a dict"}
    response = post(client, event, **auth())
    assert response.status_code == 400


def test_an_event_counts_only_from_the_provider_that_sent_the_message(client, settings):
    """A delivery sent through Postmark; the deployment now uses SendGrid, whose
    webhook posts a bounce naming the delivery: it must not flip it."""
    delivery = sent_delivery()
    EmailDelivery.objects.filter(pk=delivery.pk).update(provider="postmark", provider_message_id="")
    settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
    before = snapshot(delivery)
    bounce = [
        {
            "email": delivery.to_email,
            "event": "bounce",
            "sg_message_id": "sendgrid-id",
            "timestamp": 1759298407,
            "delivery_id": str(delivery.pk),
            "manager_id": "7",
            "period": "2025-09",
        }
    ]

    response = client.post(
        "/anymail/sendgrid/tracking/", bounce, content_type="application/json", **auth()
    )

    assert response.status_code == 200
    assert snapshot(delivery) == before


def test_the_send_records_its_provider(settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    delivery, _ = create_delivery(
        idempotency_key="test:provider", to_email="boss@example.com", subject="S", body_text="B"
    )

    send_delivery(delivery.pk, backoff=email_backoff)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider) == (Status.SENT, "test")
