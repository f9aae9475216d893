"""An operator sends failed email deliveries again from their list (apps.mailing.resend_failed
and the admin's *Send again* action), behind the retry permission: each goes back to
queued and its send task is queued after commit; the rest are named and left alone; the
admin log says who did it."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from apps.mailing import resend_failed
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
CHANGELIST = reverse("admin:mailing_emaildelivery_changelist")
VIEW = "mailing.view_emaildelivery"
RETRY = "taskops.retry_failed_task"
CANCEL = "mailing.cancel_delivery"


def delivery(status: str, key: str = "", **changes) -> EmailDelivery:
    made, _ = create_delivery(
        idempotency_key=f"test:{key or status}",
        to_email=f"{key or status}@example.com",
        subject="S",
        body_text="B",
    )
    EmailDelivery.objects.filter(pk=made.pk).update(status=status, **changes)
    made.refresh_from_db()
    return made


def failed(key: str = "", **changes) -> EmailDelivery:
    return delivery(
        Status.FAILED, key, next_attempt_at=None, last_error="422: bad address", **changes
    )


class Queue:
    """Stands in for send_email_delivery.delay."""

    def __init__(self):
        self.ids: list[int] = []

    def __call__(self, delivery_id):
        self.ids.append(delivery_id)


@pytest.fixture
def queued(monkeypatch) -> Queue:
    queue = Queue()
    monkeypatch.setattr("apps.mailing.tasks.send_email_delivery.delay", queue)
    return queue


def post_send_again(client, *chosen: EmailDelivery, confirm: bool = True):
    data = {"action": "send_again", "_selected_action": [row.pk for row in chosen]}
    if confirm:
        data["confirm_send_again"] = "yes"
    return client.post(CHANGELIST, data, follow=True)


def test_send_again_queues_the_failed_ones_after_commit_and_logs_each(
    django_capture_on_commit_callbacks,
):
    ops = staff_user(VIEW, RETRY)
    first, second = failed(), failed("other")
    queue = Queue()

    with django_capture_on_commit_callbacks() as callbacks:
        done = resend_failed.send_again(EmailDelivery.objects.all(), by=ops, enqueue=queue)
        assert queue.ids == []  # nothing is queued before the rows say so

    for callback in callbacks:
        callback()
    assert queue.ids == [first.pk, second.pk]
    assert [row.pk for row in done.queued] == [first.pk, second.pk]
    assert done.left_alone == []
    row = EmailDelivery.objects.get(pk=first.pk)
    assert row.status == Status.QUEUED
    assert row.next_attempt_at <= timezone.now()
    assert row.last_error.startswith(f"Sent again by {ops.username} at ")
    assert row.last_error.endswith("\nBefore that: 422: bad address")
    entries = LogEntry.objects.order_by("object_id")
    assert [(e.user, e.object_id, e.action_flag, e.change_message) for e in entries] == [
        (ops, str(pk), CHANGE, "Sent again: status failed → queued.")
        for pk in (first.pk, second.pk)
    ]


def test_what_has_not_failed_is_named_and_left_alone():
    due = timezone.now()
    others = [
        delivery(Status.QUEUED, next_attempt_at=due),
        delivery(Status.SENDING),
        delivery(Status.UNCONFIRMED),
        delivery(Status.SENT),
        delivery(Status.BOUNCED),
        delivery(Status.CANCELLED),
        delivery(Status.HELD),
    ]
    before = {row.pk: row.status for row in others}

    done = resend_failed.send_again(
        EmailDelivery.objects.all(), by=staff_user(RETRY), enqueue=Queue()
    )

    when = f"{due:%Y-%m-%d %H:%M %Z}"
    assert done.queued == []
    assert done.left_alone == [
        f"delivery {others[0].pk} to queued@example.com (queued, due {when}: "
        "it is sent without you)",
        f"delivery {others[1].pk} to sending@example.com (being sent right now)",
        f"delivery {others[2].pk} to unconfirmed@example.com (its last attempt may have "
        "reached the provider; wait for the provider's event, or retry its failed task, "
        "which asks you to confirm a possible duplicate)",
        f"delivery {others[3].pk} to sent@example.com (it has left: sent (accepted by the "
        "provider))",
        f"delivery {others[4].pk} to bounced@example.com (it has left: bounced)",
        f"delivery {others[5].pk} to cancelled@example.com (cancelled by an operator; for a "
        "report, use 'Email another copy' on its team)",
        f"delivery {others[6].pk} to held@example.com (held: its address is marked "
        "undeliverable; correct it or clear the mark)",
    ]
    assert {row.pk: row.status for row in EmailDelivery.objects.all()} == before
    assert not LogEntry.objects.exists()


def test_a_delivery_cancelled_meanwhile_is_not_sent_again(monkeypatch):
    """The operator saw it failed; another cancelled it before the confirmation landed."""
    row = failed()
    chosen = EmailDelivery.objects.filter(pk=row.pk)
    seen_failed = resend_failed.plan_send_again(chosen)
    EmailDelivery.objects.filter(pk=row.pk).update(status=Status.CANCELLED)
    monkeypatch.setattr(resend_failed, "plan_send_again", lambda deliveries: seen_failed)
    queue = Queue()

    done = resend_failed.send_again(chosen, by=staff_user(RETRY), enqueue=queue)

    assert done.queued == [] and queue.ids == []
    assert "cancelled by an operator" in done.left_alone[0]
    assert EmailDelivery.objects.get(pk=row.pk).status == Status.CANCELLED
    assert not LogEntry.objects.exists()


def test_the_service_refuses_a_user_without_the_retry_permission():
    row = failed()

    with pytest.raises(PermissionDenied, match=r"taskops\.retry_failed_task"):
        resend_failed.send_again(
            EmailDelivery.objects.all(), by=staff_user(VIEW, CANCEL), enqueue=Queue()
        )

    assert EmailDelivery.objects.get(pk=row.pk).status == Status.FAILED


@pytest.mark.parametrize(
    "permissions", [(VIEW,), (VIEW, CANCEL)], ids=["view only", "view and cancel"]
)
def test_send_again_is_not_offered_nor_obeyed_without_the_retry_permission(
    client, queued, permissions, django_capture_on_commit_callbacks
):
    row = failed()
    client.force_login(staff_user(*permissions))

    assert "send_again" not in offered_actions(client, CHANGELIST)
    with django_capture_on_commit_callbacks(execute=True):
        post_send_again(client, row)  # forged: the action is not on the form

    assert EmailDelivery.objects.get(pk=row.pk).status == Status.FAILED
    assert queued.ids == []
    assert not LogEntry.objects.exists()


def test_a_view_and_retry_user_confirms_then_sends_again(
    client, queued, django_capture_on_commit_callbacks
):
    row, sent = failed(), delivery(Status.SENT)
    ops = staff_user(VIEW, RETRY)
    client.force_login(ops)
    assert offered_actions(client, CHANGELIST) == {"send_again"}

    asked = post_send_again(client, row, sent, confirm=False)

    page = asked.content.decode()
    assert asked.templates[0].name == "admin/confirm_action.html"
    assert "Send 1 failed email(s) again?" in page
    assert f"delivery {row.pk} to failed@example.com: S (failed: 422: bad address)" in page
    assert f"Left as they are: delivery {sent.pk} to sent@example.com (it has left" in page
    assert 'name="confirm_send_again" value="yes"' in page
    assert EmailDelivery.objects.get(pk=row.pk).status == Status.FAILED and queued.ids == []

    with django_capture_on_commit_callbacks(execute=True):
        answer = post_send_again(client, row, sent)

    assert [str(message) for message in answer.context["messages"]] == [
        f"1 email delivery(ies) queued again: {row.pk}",
        f"Not sent again: delivery {sent.pk} to sent@example.com (it has left: sent "
        "(accepted by the provider)).",
    ]
    assert queued.ids == [row.pk]
    assert EmailDelivery.objects.get(pk=row.pk).status == Status.QUEUED
    assert LogEntry.objects.get().user == ops


def test_the_email_sent_again_goes_out(
    admin_client, celery_eager, mailoutbox, settings, django_capture_on_commit_callbacks
):
    """End to end, with the real task run inline: the failed email is sent this time."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = failed(attempts=6)

    with django_capture_on_commit_callbacks(execute=True):
        post_send_again(admin_client, row)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 7, "")
    assert [message.to for message in mailoutbox] == [["failed@example.com"]]


def test_only_failed_ones_are_offered_to_confirm_and_nothing_asks_for_none(client, queued):
    sent = delivery(Status.SENT)
    client.force_login(staff_user(VIEW, RETRY))

    answer = post_send_again(client, sent, confirm=False)

    assert answer.templates[0].name != "admin/confirm_action.html"
    assert [str(message) for message in answer.context["messages"]] == [
        f"Not sent again: delivery {sent.pk} to sent@example.com (it has left: sent "
        "(accepted by the provider))."
    ]
    assert EmailDelivery.objects.get(pk=sent.pk).status == Status.SENT and queued.ids == []
