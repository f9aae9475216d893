"""Postmark's tracking webhooks, through Anymail's real view at /anymail/postmark/tracking/.

Payloads are in Postmark's documented format
(https://postmarkapp.com/developer/webhooks/webhooks-overview), which
anymail/webhooks/postmark.py turns into the normalized events our receiver gets.
"""

import base64
import json
import logging
import uuid

import pytest
from django.core import mail
from prometheus_client.parser import text_string_to_metric_families

from apps.mailing.claims import record_sent
from apps.mailing.models import EmailDelivery
from apps.mailing.sending import send_delivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import email_backoff
from tests.support.fake_sentry import FakeSentry
from tests.support.fresh_python import printed_json

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

    assert response.status_code == 401
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


# ANONYMOUS TRAFFIC: REFUSED CHEAPLY AND QUIETLY
# ------------------------------------------------------------------------------
# A post without the credentials, too large or not the provider's JSON is refused
# before Anymail sees it: one WARNING line, one count by reason on /metrics, never an
# ERROR (which Sentry would turn into an event: anyone could spend its quota).

REASONS = ("credentials", "too_large", "malformed")
THREE_MB = 3 * 1024 * 1024


def refusals(client) -> dict[str, float]:
    """commission_webhook_refused_total by reason, as /metrics shows it."""
    response = client.get("/metrics")
    assert response.status_code == 200
    counts = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == "commission_webhook_refused_total"
    }
    assert set(counts) == set(REASONS)
    return counts


def warnings_and_worse(caplog) -> list[tuple[str, str]]:
    return [(r.name, r.levelname) for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.usefixtures("metrics_open")
@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({}, None, 401, "credentials"),
        (auth("postmark-hook:wrong-password"), None, 401, "credentials"),
        (auth("someone:" + SECRET.split(":")[1]), None, 401, "credentials"),
        ({"HTTP_AUTHORIZATION": "Basic not*base64"}, None, 401, "credentials"),
        ({"HTTP_AUTHORIZATION": "Bearer " + SECRET}, None, 401, "credentials"),
        (auth(), "x" * THREE_MB, 413, "too_large"),
        ({}, "x" * THREE_MB, 401, "credentials"),
        (auth(), "[" * 100_000, 400, "malformed"),
        ({}, "[" * 100_000, 401, "credentials"),
        (auth(), "not json", 400, "malformed"),
        (auth(), b"\xff\xfe{}", 400, "malformed"),
        (auth(), "[]", 400, "malformed"),
    ],
    ids=[
        "no credentials",
        "wrong password",
        "wrong user",
        "basic auth not base64",
        "the secret as a bearer token",
        "3 MB with credentials",
        "3 MB without credentials",
        "deeply nested with credentials",
        "deeply nested without credentials",
        "not JSON",
        "not UTF-8",
        "an array where Postmark posts an object",
    ],
)
def test_a_refused_post_is_one_warning_and_one_count(client, caplog, headers, body, status, reason):
    delivery = sent_delivery()
    before, counted = snapshot(delivery), refusals(client)
    if body is None:
        body = json.dumps(bounce_event(delivery))
    caplog.clear()  # only the post's own lines (reading /metrics may log about the broker)

    with caplog.at_level(logging.INFO):
        response = client.post(URL, body, content_type="application/json", **headers)

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Basic ")
    assert snapshot(delivery) == before
    assert warnings_and_worse(caplog) == [("apps.mailing.webhooks", "WARNING")]
    assert f"Tracking webhook refused ({reason})" in caplog.text
    after = refusals(client)
    assert {r: after[r] - counted[r] for r in REASONS} == {r: int(r == reason) for r in REASONS}


@pytest.mark.usefixtures("metrics_open")
def test_an_accepted_event_logs_no_warning_and_counts_no_refusal(client, caplog):
    delivery = sent_delivery()
    counted = refusals(client)
    caplog.clear()  # only the post's own lines (reading /metrics may log about the broker)

    with caplog.at_level(logging.INFO):
        response = post(client, delivery_event(delivery), **auth())

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert warnings_and_worse(caplog) == []
    assert refusals(client) == counted


def test_a_body_of_the_size_limit_is_read_and_one_byte_more_is_not(client, settings):
    settings.TRACKING_WEBHOOK_MAX_BYTES = 64 * 1024
    delivery = sent_delivery()
    event = json.dumps(delivery_event(delivery))
    padded = event + " " * (settings.TRACKING_WEBHOOK_MAX_BYTES - len(event))

    too_large = client.post(URL, padded + " ", content_type="application/json", **auth())
    delivery.refresh_from_db()
    assert (too_large.status_code, delivery.status) == (413, Status.SENT)

    at_limit = client.post(URL, padded, content_type="application/json", **auth())
    delivery.refresh_from_db()
    assert (at_limit.status_code, delivery.status) == (200, Status.DELIVERED)


def test_no_more_than_the_declared_length_is_read(client):
    """A sender that declares less than it sends: Django reads only the declared bytes
    (the rest would make the JSON invalid), so a body can never exceed the checked size."""
    delivery = sent_delivery()
    event = json.dumps(delivery_event(delivery)).encode()

    response = client.post(
        URL,
        event + b"x" * THREE_MB,
        content_type="application/json",
        CONTENT_LENGTH=str(len(event)),
        **auth(),
    )

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED


def test_a_body_without_a_declared_length_is_read_as_empty(client, caplog):
    """As a chunked request reaches Django under gunicorn: no Content-Length, nothing read."""
    delivery = sent_delivery()

    with caplog.at_level(logging.INFO):
        response = client.post(
            URL,
            json.dumps(delivery_event(delivery)) + "x" * THREE_MB,
            content_type="application/json",
            CONTENT_LENGTH="",
            **auth(),
        )

    assert response.status_code == 400
    assert "Tracking webhook refused (malformed): not JSON" in caplog.text


@pytest.mark.usefixtures("metrics_open")
def test_anymails_own_check_behind_ours_is_also_a_quiet_refusal(client, settings, caplog):
    """Mailgun signs its posts: the right basic auth with a wrong signature fails
    Anymail's check (a SuspiciousOperation Django would log at ERROR): one WARNING."""
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": "key-signing"}
    counted = refusals(client)
    event = {
        "signature": {"timestamp": "1759298407", "token": "a" * 50, "signature": "0" * 64},
        "event-data": {"event": "delivered", "timestamp": 1759298407.1, "recipient": "x@y.org"},
    }
    caplog.clear()  # only the post's own lines (reading /metrics may log about the broker)

    with caplog.at_level(logging.INFO):
        response = client.post(
            "/anymail/mailgun/tracking/", event, content_type="application/json", **auth()
        )

    assert response.status_code == 400
    assert warnings_and_worse(caplog) == [("apps.mailing.webhooks", "WARNING")]
    assert "Tracking webhook refused (credentials)" in caplog.text
    assert refusals(client)["credentials"] == counted["credentials"] + 1


REFUSED_UNDER_SENTRY = """
import base64, json, logging, sentry_sdk, django
django.setup()
from django.test import Client

client, url = Client(), "/anymail/postmark/tracking/"
def basic(secret):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}
right, wrong = basic("hook:secret-password"), basic("hook:wrong")
posts = [
    ({}, "{}"), (wrong, "{}"), (right, "x" * 3_000_000), ({}, "x" * 3_000_000),
    (right, "[" * 100_000), ({}, "[" * 100_000), (right, "not json"),
]
statuses = [
    client.post(url, body, content_type="application/json", **headers).status_code
    for headers, body in posts
]
# What Django logs at ERROR for such posts when they reach it: ignored as well.
logging.getLogger("django.security.AnymailWebhookValidationFailure").error("invalid basic auth")
logging.getLogger("django.security.RequestDataTooBig").error("Request body exceeded")
# An error of ours still arrives: the silence above is not a broken setup.
logging.getLogger("apps.control").error("control event")
sentry_sdk.flush(timeout=10)
print(json.dumps(statuses))
"""


def test_refused_posts_never_reach_sentry(tmp_path):
    with FakeSentry() as sentry:
        statuses = printed_json(
            REFUSED_UNDER_SENTRY,
            SENTRY_DSN=sentry.dsn,
            DJANGO_ALLOWED_HOSTS="testserver",
            DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
            EMAIL_TRACKING_ENABLED="True",
            ANYMAIL_WEBHOOK_SECRET="hook:secret-password",
        )
        events = sentry.events()

    assert statuses == [401, 401, 413, 401, 400, 401, 400]
    assert [event["logentry"]["message"] for event in events] == ["control event"]
    # The refusals were seen, as WARNING breadcrumbs of what came after.
    refused = [
        (crumb["level"], crumb["message"].split(":")[0])
        for crumb in events[0]["breadcrumbs"]["values"]
        if crumb["message"].startswith("Tracking webhook refused")
    ]
    assert sorted(refused) == sorted(
        ("warning", f"Tracking webhook refused ({reason})")
        for reason in ["credentials"] * 4 + ["too_large"] + ["malformed"] * 2
    )
