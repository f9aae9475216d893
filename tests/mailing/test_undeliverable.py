"""Bounces, spam complaints and provider refusals mark an address undeliverable
(apps.mailing.undeliverable); later emails to it are held, not sent; an operator clearing
the mark (the admin's action, behind its permission) sends them."""

import base64
import datetime as dt
import uuid

import pytest
from anymail.signals import AnymailTrackingEvent, EventType
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from apps.mailing import undeliverable
from apps.mailing.claims import record_sent
from apps.mailing.models import EmailDelivery, UndeliverableAddress
from apps.mailing.selectors import owed_deliveries
from apps.mailing.send_errors import PermanentEmailError
from apps.mailing.sending import send_delivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import email_backoff, send_email_delivery
from apps.mailing.tracking import record_tracking_event, undeliverable_reason
from tests.factories import UserFactory
from tests.support.admin import offered_actions, staff_user
from tests.support.fake_provider import bounce_event, inactive_recipient
from tests.support.owed_work import Recorder

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
Reason = UndeliverableAddress.Reason
SECRET = "postmark-hook:Zx8-long-random-password"
CHANGELIST = reverse("admin:mailing_undeliverableaddress_changelist")
VIEW = "mailing.view_undeliverableaddress"
CLEAR = "mailing.clear_undeliverableaddress"

# Every event kind Anymail normalises a provider's tracking events to (inbound ones
# aside), and the mark each leaves on the address.
MARKS = {
    EventType.QUEUED: None,
    EventType.SENT: None,
    EventType.REJECTED: Reason.REFUSED,
    EventType.FAILED: None,  # the provider could not send it, for its own reasons
    EventType.BOUNCED: Reason.BOUNCED,
    EventType.DEFERRED: None,  # delayed: it may yet arrive
    EventType.DELIVERED: None,
    EventType.AUTORESPONDED: None,
    EventType.OPENED: None,
    EventType.CLICKED: None,
    EventType.COMPLAINED: Reason.COMPLAINED,
    EventType.UNSUBSCRIBED: None,
    EventType.SUBSCRIBED: None,
    EventType.UNKNOWN: None,
}


@pytest.fixture(autouse=True)
def tracking_on(settings):
    """Postmark is the provider, with tracking on; this process sends with locmem."""
    settings.EMAIL_TRACKING_ENABLED = True
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def sent_to(email: str = "boss@example.com", key: str | None = None, user=None) -> EmailDelivery:
    """A delivery the provider accepted through Postmark."""
    delivery = owed(email, key, user)
    record_sent(delivery.pk, str(uuid.uuid4()))
    EmailDelivery.objects.filter(pk=delivery.pk).update(provider="postmark")
    delivery.refresh_from_db()
    return delivery


def owed(email: str = "boss@example.com", key: str | None = None, user=None) -> EmailDelivery:
    key = key or str(uuid.uuid4())
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}",
        to_email=email,
        subject=f"Report {key}",
        body_text="B",
        user=user,
    )
    return delivery


def event(delivery: EmailDelivery, event_type: str, **fields) -> AnymailTrackingEvent:
    return AnymailTrackingEvent(
        event_type=event_type,
        message_id=delivery.provider_message_id,
        recipient=delivery.to_email,
        timestamp=timezone.now(),
        description=f"the provider's words for {event_type}",
        **fields,
    )


def post(client, body: dict):
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    return client.post(
        "/anymail/postmark/tracking/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )


def marks() -> list[tuple[str, str]]:
    return list(UndeliverableAddress.objects.values_list("email", "reason"))


def send(delivery: EmailDelivery) -> str:
    return send_delivery(delivery.pk, task_id="t", backoff=email_backoff)


# WHAT MARKS AN ADDRESS
# ------------------------------------------------------------------------------


def test_the_table_covers_every_event_kind_anymail_normalises():
    """An Anymail upgrade that adds a kind fails here until it is decided."""
    kinds = {value for name, value in vars(EventType).items() if name.isupper()}
    assert kinds - {EventType.INBOUND, EventType.INBOUND_FAILED} == set(MARKS)


@pytest.mark.parametrize(("kind", "reason"), MARKS.items())
def test_each_event_kind_marks_the_address_or_not(kind, reason):
    delivery = sent_to("Boss@Example.com")

    record_tracking_event(event(delivery, kind), "Postmark")

    if reason is None:
        assert marks() == []
        return
    mark = UndeliverableAddress.objects.get()
    assert (mark.email, mark.reason, mark.delivery) == ("boss@example.com", reason, delivery)
    assert f"the provider's words for {kind}" in mark.detail
    assert mark.cleared_at is None
    delivery.refresh_from_db()
    assert "The address is marked undeliverable" in delivery.last_error


@pytest.mark.parametrize(
    ("bounce_type", "reason"),
    [
        ("HardBounce", Reason.BOUNCED),
        ("SpamComplaint", Reason.COMPLAINED),
        ("SoftBounce", None),  # Anymail calls it bounced; Postmark's Type says soft
        ("Transient", None),  # Anymail: deferred
    ],
)
def test_postmarks_webhook_marks_hard_bounces_and_complaints_only(client, bounce_type, reason):
    delivery = sent_to()
    body = bounce_event(
        delivery.provider_message_id, delivery.to_email, bounce_type, {"delivery_id": "x"}
    )

    assert post(client, body).status_code == 200

    assert marks() == ([("boss@example.com", reason)] if reason else [])
    if reason:
        mark = UndeliverableAddress.objects.get()
        assert abs(mark.since - timezone.now()) < dt.timedelta(minutes=1)  # BouncedAt
        assert mark.detail.startswith(f"Postmark reported {reason} ")  # the event's kind
        assert body["Description"] in mark.detail and body["Details"] in mark.detail


@pytest.mark.parametrize(
    ("provider", "raw", "marks_it"),
    [
        ("Postmark", {"Type": "HardBounce"}, True),
        ("Postmark", {"Type": "VirusNotification"}, False),
        ("Brevo", {"event": "hard_bounce"}, True),
        ("Brevo", {"event": "soft_bounce"}, False),
        ("Amazon SES", {"bounce": {"bounceType": "Permanent"}}, True),
        ("Amazon SES", {"bounce": {"bounceType": "Transient"}}, False),
        ("SendGrid", {"event": "bounce", "type": "bounce"}, True),
        ("SendGrid", {"event": "bounce", "type": "blocked"}, False),
        ("Mailgun", {"event-data": {"severity": "permanent"}}, True),
    ],
)
def test_soft_bounces_that_anymail_calls_bounced_mark_nothing(provider, raw, marks_it):
    bounced = AnymailTrackingEvent(event_type=EventType.BOUNCED, esp_event=raw)

    assert undeliverable_reason(bounced, provider) == (Reason.BOUNCED if marks_it else None)


def test_a_replayed_bounce_or_a_second_one_leaves_the_first_mark(client):
    first, second = sent_to(key="first"), sent_to(key="second")
    body = bounce_event(first.provider_message_id, first.to_email)
    post(client, body)
    mark = UndeliverableAddress.objects.get()

    post(client, body)
    post(client, bounce_event(second.provider_message_id, second.to_email, "SpamComplaint"))

    assert list(UndeliverableAddress.objects.values_list("pk", "reason", "delivery")) == [
        (mark.pk, Reason.BOUNCED, first.pk)
    ]


def test_a_bounce_for_a_message_that_is_not_ours_marks_nothing(client):
    sent_to()

    post(client, bounce_event(str(uuid.uuid4()), "boss@example.com"))

    assert marks() == []


# HELD, NOT SENT
# ------------------------------------------------------------------------------


def test_an_email_to_a_marked_address_is_held_with_the_reason_and_the_way_out(locmem, celery_eager):
    boss = UserFactory(username="boss", first_name="Maria", last_name="Ivanova")
    mark = UndeliverableAddress.objects.create(
        email="boss@example.com", reason=Reason.BOUNCED, detail="550 no such user\nmore"
    )
    delivery = owed("Boss@Example.COM", user=boss)
    other = owed("someone@example.com")

    result = send_email_delivery.delay(delivery.pk)

    assert result.successful() and result.result == "held"  # not retried
    assert mail.outbox == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at, delivery.attempts) == (
        Status.HELD,
        None,
        0,
    )
    since = timezone.localtime(mark.since)
    assert delivery.last_error == (
        f"Held, not sent: boss@example.com is marked undeliverable since "
        f"{since:%Y-%m-%d %H:%M %Z} (hard bounce: 550 no such user). To send it, correct "
        f"Maria Ivanova (boss)'s address under Users in the admin, or clear mark {mark.pk} "
        "under Undeliverable addresses."
    )
    # Still owed to a person, but nothing sends it by itself; asking again sends nothing.
    assert not owed_deliveries().filter(pk=delivery.pk).exists()
    assert send(delivery) == "held"
    assert send(other) == "sent"
    assert [message.to for message in mail.outbox] == [["someone@example.com"]]


def test_a_cleared_mark_holds_nothing(locmem):
    UndeliverableAddress.objects.create(
        email="boss@example.com", reason=Reason.BOUNCED, cleared_at=timezone.now()
    )

    assert send(owed()) == "sent"


def test_a_refusal_at_send_time_marks_the_address_and_fails_the_email(fake_postmark, settings):
    fake_postmark.reset()
    fake_postmark.send_here(settings)
    fake_postmark.script(inactive_recipient("gone@example.com"))
    refused, later = owed("gone@example.com", "refused"), owed("gone@example.com", "later")

    with pytest.raises(PermanentEmailError):
        send(refused)

    refused.refresh_from_db()
    assert refused.status == Status.FAILED
    assert refused.last_error.startswith(
        "The provider refused gone@example.com because it is suppressed there (inactive "
        "after an earlier hard bounce or spam complaint); not sent."
    )
    mark = UndeliverableAddress.objects.get()
    assert (mark.email, mark.reason, mark.delivery) == ("gone@example.com", "refused", refused)
    assert "AnymailRecipientsRefused" in mark.detail and "marked as inactive" in mark.detail
    # The next email to it never reaches the provider.
    assert send(later) == "held"
    assert len(fake_postmark.requests()) == 1
    fake_postmark.reset()


# CLEARING A MARK
# ------------------------------------------------------------------------------


def held(email: str = "boss@example.com", key: str | None = None) -> EmailDelivery:
    delivery = owed(email, key)
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.HELD, next_attempt_at=None, last_error="Held, not sent: ..."
    )
    delivery.refresh_from_db()
    return delivery


def test_clearing_a_mark_takes_its_permission(client):
    mark = UndeliverableAddress.objects.create(email="boss@example.com", reason=Reason.BOUNCED)
    viewer = staff_user(VIEW)
    client.force_login(viewer)

    assert offered_actions(client, CHANGELIST) == set()
    client.post(CHANGELIST, {"action": "clear_marks", "_selected_action": [mark.pk]})
    with pytest.raises(PermissionDenied, match=CLEAR.replace(".", r"\.")):
        undeliverable.clear_mark(mark, viewer, enqueue=Recorder())

    mark.refresh_from_db()
    assert mark.cleared_at is None
    assert not LogEntry.objects.exists()
    client.force_login(staff_user(VIEW, CLEAR))
    assert offered_actions(client, CHANGELIST) == {"clear_marks"}


def test_clear_mark_releases_the_held_emails_after_commit_and_logs_it(
    django_capture_on_commit_callbacks,
):
    mark = UndeliverableAddress.objects.create(email="boss@example.com", reason=Reason.BOUNCED)
    to_boss, again = held("Boss@example.com", "a"), held("boss@example.com", "b")
    refused = owed("boss@example.com", "refused")
    EmailDelivery.objects.filter(pk=refused.pk).update(
        status=Status.FAILED, last_error="The provider refused ...\nAnymailRecipientsRefused: ..."
    )
    elsewhere = held("other@example.com", "other")
    ops = staff_user(VIEW, CLEAR)
    enqueue = Recorder()

    with django_capture_on_commit_callbacks() as callbacks:
        released = undeliverable.clear_mark(mark, ops, enqueue=enqueue)
        assert enqueue.calls == []

    for callback in callbacks:
        callback()
    assert released == [to_boss.pk, again.pk, refused.pk]
    assert sorted(enqueue.calls) == [(to_boss.pk,), (again.pk,), (refused.pk,)]
    mark.refresh_from_db()
    assert (mark.cleared_by, mark.cleared_at is not None) == (ops.username, True)
    for delivery in (to_boss, again, refused):
        delivery.refresh_from_db()
        assert delivery.status == Status.QUEUED and delivery.next_attempt_at <= timezone.now()
        assert delivery.last_error.startswith(f"Released by {ops.username} at ")
    assert EmailDelivery.objects.get(pk=elsewhere.pk).status == Status.HELD
    logged = {(e.content_type.model, e.object_id, e.action_flag) for e in LogEntry.objects.all()}
    assert logged == {
        ("undeliverableaddress", str(mark.pk), CHANGE),
        *(("emaildelivery", str(pk), CHANGE) for pk in released),
    }
    # Cleared already: nothing more happens.
    assert undeliverable.clear_mark(mark, ops, enqueue=enqueue) == []
    assert len(enqueue.calls) == 3


def test_open_marks_lists_the_marks_not_cleared():
    kept = UndeliverableAddress.objects.create(email="a@example.com", reason=Reason.BOUNCED)
    UndeliverableAddress.objects.create(
        email="b@example.com", reason=Reason.REFUSED, cleared_at=timezone.now()
    )

    assert list(undeliverable.open_marks()) == [kept]


def test_the_admin_action_asks_first_then_clears_and_sends(
    client, locmem, celery_eager, django_capture_on_commit_callbacks
):
    mark = UndeliverableAddress.objects.create(email="boss@example.com", reason=Reason.BOUNCED)
    waiting = held(key="held")
    ops = staff_user(VIEW, CLEAR)
    client.force_login(ops)
    # What another page's button posts: the action and the mark, nothing else.
    chosen = {"action": "clear_marks", "_selected_action": [mark.pk]}

    asked = client.post(CHANGELIST, chosen)

    assert asked.status_code == 200
    assert asked.templates[0].name == "admin/confirm_action.html"
    page = asked.content.decode()
    assert "Clear 1 undeliverable mark(s)?" in page
    assert f"sends delivery {waiting.pk} (Report held)" in page
    assert UndeliverableAddress.objects.get().cleared_at is None  # asking changed nothing

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(CHANGELIST, {**chosen, "confirm_clear": "yes"}, follow=True)

    assert [str(m) for m in done.context["messages"]] == [
        f"Cleared boss@example.com; sending 1 held email(s) now (delivery {waiting.pk})."
    ]
    assert [message.to for message in mail.outbox] == [["boss@example.com"]]
    assert EmailDelivery.objects.get(pk=waiting.pk).status == Status.SENT
    assert UndeliverableAddress.objects.get().cleared_by == ops.username


def test_the_marks_admin_is_read_only_and_filters_by_state_reason_and_email(client):
    delivery = sent_to()
    open_mark = UndeliverableAddress.objects.create(
        email="boss@example.com", reason=Reason.BOUNCED, delivery=delivery
    )
    cleared = UndeliverableAddress.objects.create(
        email="old@example.com", reason=Reason.COMPLAINED, cleared_at=timezone.now()
    )
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    def listed(query: str) -> list:
        return list(client.get(f"{CHANGELIST}?{query}").context["cl"].result_list)

    assert listed("state=open") == [open_mark]
    assert listed("state=cleared") == [cleared]
    assert listed("reason=complained") == [cleared]
    assert listed("q=boss") == [open_mark]
    page = client.get(reverse("admin:mailing_undeliverableaddress_change", args=[open_mark.pk]))
    assert (
        reverse("admin:mailing_emaildelivery_change", args=[delivery.pk]) in page.content.decode()
    )
    assert 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:mailing_undeliverableaddress_add")).status_code == 403
    delete = reverse("admin:mailing_undeliverableaddress_delete", args=[open_mark.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert UndeliverableAddress.objects.count() == 2
