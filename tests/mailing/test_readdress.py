"""An email that never left goes to the address its manager has now: at send time
(apps.mailing.sending) and when an operator corrects the address (apps.mailing.readdress,
through the admin's user form), with a record of each change on the delivery. Every send
checks the address first: an invalid one fails the delivery for good, naming the user."""

import datetime as dt

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.mailing.models import EmailDelivery, UndeliverableAddress
from apps.mailing.readdress import readdress_owed
from apps.mailing.send_errors import PermanentEmailError
from apps.mailing.sending import AT_SEND_TIME, send_delivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import email_backoff, send_email_delivery
from tests.factories import UserFactory
from tests.support.admin import staff_user, user_form
from tests.support.owed_work import Recorder

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
DANIEL_INVALID = (
    "Daniel Brooks (daniel) has no valid email address ('daniel at example'); "
    "correct it under Users in the admin"
)


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def daniel(email: str = "daniel at example"):
    """Daniel, whose address was set outside the admin's form (no validation there)."""
    user = UserFactory(username="daniel", first_name="Daniel", last_name="Brooks")
    get_user_model().objects.filter(pk=user.pk).update(email=email)
    user.refresh_from_db()
    return user


def owed_to(user, key: str = "owed", to_email: str | None = None, **changes) -> EmailDelivery:
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}",
        to_email=user.email if to_email is None else to_email,
        subject=f"Report {key}",
        body_text="B",
        user=user,
        period="2025-09",
    )
    if changes:
        EmailDelivery.objects.filter(pk=delivery.pk).update(**changes)
        delivery.refresh_from_db()
    return delivery


def send(delivery: EmailDelivery) -> str:
    return send_delivery(delivery.pk, task_id="t", backoff=email_backoff)


def set_email(user, email: str) -> None:
    get_user_model().objects.filter(pk=user.pk).update(email=email)
    user.refresh_from_db()


# BEFORE EVERY SEND
# ------------------------------------------------------------------------------


def test_an_invalid_address_fails_the_delivery_for_good_naming_the_user():
    delivery = owed_to(daniel())

    with pytest.raises(PermanentEmailError, match="has no valid email address"):
        send(delivery)

    assert mail.outbox == []  # the console or locmem backend would have "sent" it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == (Status.FAILED, None)
    assert delivery.last_error == DANIEL_INVALID


def test_an_invalid_address_without_a_user_is_refused_too(celery_eager):
    delivery, _ = create_delivery(
        idempotency_key="test:nobody", to_email="nobody at example", subject="S", body_text="B"
    )

    result = send_email_delivery.delay(delivery.pk)

    assert result.failed() and isinstance(result.result, PermanentEmailError)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 1)  # not retried
    assert delivery.last_error == "'nobody at example' is not a valid email address"
    assert mail.outbox == []


def test_an_owed_email_goes_to_the_users_address_at_send_time_in_three_queries(
    django_assert_num_queries,
):
    boss = UserFactory(username="boss", email="old@example.com")
    delivery = owed_to(boss)
    set_email(boss, "new@example.com")

    # The claim reads the user's address; re-addressing is one UPDATE; then the record.
    with django_assert_num_queries(3):
        assert send(delivery) == "sent"

    assert mail.outbox[0].to == ["new@example.com"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.to_email) == (Status.SENT, "new@example.com")
    [change] = delivery.readdressed
    assert (change["old"], change["new"], change["by"]) == (
        "old@example.com",
        "new@example.com",
        AT_SEND_TIME,
    )
    assert abs(dt.datetime.fromisoformat(change["at"]) - timezone.now()) < dt.timedelta(minutes=1)


def test_the_usual_send_stays_two_queries(django_assert_num_queries):
    delivery = owed_to(UserFactory(username="boss"))

    with django_assert_num_queries(2):  # the claim (with the address checks) and the record
        assert send(delivery) == "sent"
    assert EmailDelivery.objects.get(pk=delivery.pk).readdressed == []


def test_a_user_with_no_address_now_fails_the_delivery_and_keeps_where_it_was_for():
    boss = UserFactory(username="boss", first_name="Olga", last_name="Smirnova")
    delivery = owed_to(boss)
    set_email(boss, "")

    with pytest.raises(PermanentEmailError):
        send(delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.to_email) == (Status.FAILED, "boss@example.com")
    assert delivery.last_error == (
        "Olga Smirnova (boss) has no email address; set one under Users in the admin"
    )
    assert mail.outbox == []


def test_a_delivery_that_left_is_never_readdressed():
    boss = UserFactory(username="boss", email="old@example.com")
    delivery = owed_to(boss)
    assert send(delivery) == "sent"
    set_email(boss, "new@example.com")

    assert send(delivery) == "already-sent"
    readdress_owed(boss, by=staff_user("accounts.change_user"), enqueue=Recorder())

    delivery.refresh_from_db()
    assert (delivery.to_email, delivery.readdressed) == ("old@example.com", [])
    assert len(mail.outbox) == 1


# WHEN AN OPERATOR CORRECTS THE ADDRESS
# ------------------------------------------------------------------------------


def test_correcting_an_address_readdresses_what_has_not_left_and_queues_what_failed_for_it(
    django_capture_on_commit_callbacks,
):
    boss = UserFactory(username="boss", email="old@example.com")
    later = timezone.now() + dt.timedelta(minutes=5)
    rows = {
        "queued": owed_to(boss, "queued"),
        "retrying": owed_to(boss, "retrying", status=Status.RETRYING, next_attempt_at=later),
        "unconfirmed": owed_to(boss, "unconfirmed", status=Status.UNCONFIRMED),
        "refused": owed_to(
            boss,
            "refused",
            status=Status.FAILED,
            next_attempt_at=None,
            last_error="AnymailRecipientsRefused: All message recipients were rejected",
        ),
        "failed-other": owed_to(
            boss,
            "failed-other",
            status=Status.FAILED,
            next_attempt_at=None,
            last_error="AnymailRequestsAPIError: not a Sender Signature",
        ),
        "held": owed_to(boss, "held", status=Status.HELD, next_attempt_at=None),
        "sending": owed_to(boss, "sending", status=Status.SENDING),
        "sent": owed_to(boss, "sent", status=Status.SENT),
        "cancelled": owed_to(boss, "cancelled", status=Status.CANCELLED),
    }
    ops = staff_user("accounts.change_user")
    set_email(boss, "new@example.com")
    enqueue = Recorder()

    with django_capture_on_commit_callbacks() as callbacks:
        done = readdress_owed(boss, by=ops, enqueue=enqueue)
        assert enqueue.calls == []  # not before the commit: the worker must find the rows

    for callback in callbacks:
        callback()
    ids = {name: row.pk for name, row in rows.items()}
    readdressed = ["queued", "retrying", "unconfirmed", "refused", "failed-other", "held"]
    assert done.readdressed == [ids[name] for name in readdressed]
    assert done.queued == [ids["refused"], ids["held"]]
    assert sorted(enqueue.calls) == sorted([(ids["refused"],), (ids["held"],)])
    after = {row.pk: row for row in EmailDelivery.objects.all()}
    for name in readdressed:
        row = after[ids[name]]
        assert row.to_email == "new@example.com"
        [change] = row.readdressed
        assert (change["old"], change["new"], change["by"]) == (
            "old@example.com",
            "new@example.com",
            ops.username,
        )
    for name in ("sending", "sent", "cancelled"):
        assert (after[ids[name]].to_email, after[ids[name]].readdressed) == (
            "old@example.com",
            [],
        )
    for name in ("refused", "held"):
        assert after[ids[name]].status == Status.QUEUED
        assert after[ids[name]].next_attempt_at <= timezone.now()
    assert after[ids["refused"]].last_error.endswith(
        "queued again.\nBefore that: AnymailRecipientsRefused: All message recipients were rejected"
    )
    # Failed for another reason: the new address would not help; an operator decides.
    assert after[ids["failed-other"]].status == Status.FAILED
    assert after[ids["retrying"]].next_attempt_at == later
    logged = LogEntry.objects.filter(user=ops, action_flag=CHANGE)
    assert sorted(int(entry.object_id) for entry in logged) == sorted(done.readdressed)


def test_held_emails_stay_held_when_the_new_address_is_marked_too():
    boss = UserFactory(username="boss", email="old@example.com")
    held = owed_to(boss, "held", status=Status.HELD, next_attempt_at=None)
    mark = UndeliverableAddress.objects.create(email="new@example.com", reason="bounced")
    set_email(boss, "new@example.com")
    enqueue = Recorder()

    done = readdress_owed(boss, by=staff_user("accounts.change_user"), enqueue=enqueue)

    assert (done.readdressed, done.queued, done.still_held) == ([held.pk], [], [held.pk])
    held.refresh_from_db()
    assert (held.status, held.to_email) == (Status.HELD, "new@example.com")
    assert f"clear mark {mark.pk}" in held.last_error
    assert enqueue.calls == []


# END TO END: THE RE-ADDRESSED RETRY THROUGH THE ADMIN
# ------------------------------------------------------------------------------


def test_a_failed_email_is_sent_to_the_address_an_operator_corrects_in_the_admin(
    client, celery_eager, django_capture_on_commit_callbacks
):
    manager = daniel()
    # An email recorded before addresses were checked, to the address as it was.
    delivery = owed_to(manager)
    send_email_delivery.delay(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == (Status.FAILED, DANIEL_INVALID)
    url = reverse("admin:accounts_user_change", args=[manager.pk])

    # View permission changes nothing.
    client.force_login(staff_user("accounts.view_user"))
    refused = client.post(url, user_form(manager, email="daniel@example.com"))
    assert refused.status_code == 403
    ops = staff_user("accounts.view_user", "accounts.change_user")
    client.force_login(ops)
    # The form refuses an invalid address, as before.
    invalid = client.post(url, user_form(manager, email="daniel at example.com"))
    assert invalid.status_code == 200 and "email" in invalid.context["adminform"].form.errors

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, user_form(manager, email="daniel@example.com"), follow=True)

    assert response.status_code == 200
    assert any(
        f"now go to daniel@example.com (delivery {delivery.pk}); queued to send now: "
        f"{delivery.pk}." in str(message)
        for message in response.context["messages"]
    )
    [sent] = mail.outbox
    assert sent.to == ["daniel@example.com"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.to_email) == (Status.SENT, "daniel@example.com")
    [change] = delivery.readdressed
    assert (change["old"], change["new"], change["by"]) == (
        "daniel at example",
        "daniel@example.com",
        ops.username,
    )
    # The admin log has the user's change and the delivery's re-addressing, both by ops.
    entries = {(entry.content_type.model, entry.object_id) for entry in LogEntry.objects.all()}
    assert entries == {("user", str(manager.pk)), ("emaildelivery", str(delivery.pk))}
    assert set(LogEntry.objects.values_list("user", flat=True)) == {ops.pk}
