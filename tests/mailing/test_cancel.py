"""An operator ends an owed email delivery by cancelling it, behind its own permission:
the row (and its idempotency key) stays, nothing sends it again, and the admin log
says who did it."""

import datetime as dt
import json
from io import StringIO

import pytest
from anymail.signals import AnymailTrackingEvent, EventType
from celery import states
from celery.utils import uuid
from django.contrib.admin.models import CHANGE, LogEntry
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult

from apps.commission.periods import default_period
from apps.commission.services import prepare_report_email
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing import cancel
from apps.mailing.claims import mark_failed
from apps.mailing.models import EmailDelivery
from apps.mailing.reconcile import reconcile_deliveries
from apps.mailing.selectors import owed_deliveries, stalled_deliveries
from apps.mailing.sending import send_delivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import email_backoff
from apps.mailing.tracking import record_tracking_event
from apps.taskops.errors import NotRetryable
from apps.taskops.models import TaskRetry
from apps.taskops.services import retry_failed_task
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
CHANGELIST = reverse("admin:mailing_emaildelivery_changelist")
VIEW = "mailing.view_emaildelivery"
CANCEL = "mailing.cancel_delivery"


def delivery(status: str, **changes) -> EmailDelivery:
    made, _ = create_delivery(
        idempotency_key=f"test:{status}",
        to_email=f"{status}@example.com",
        subject="S",
        body_text="B",
    )
    EmailDelivery.objects.filter(pk=made.pk).update(status=status, **changes)
    made.refresh_from_db()
    return made


def overdue() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=1)


def post_cancel(client, *chosen: EmailDelivery, confirm: bool = True):
    data = {"action": "cancel", "_selected_action": [row.pk for row in chosen]}
    if confirm:
        data["confirm_cancel"] = "yes"
    return client.post(CHANGELIST, data, follow=True)


def statuses() -> dict[int, str]:
    return dict(EmailDelivery.objects.values_list("pk", "status"))


def test_cancelling_takes_its_own_permission(client):
    queued = delivery(Status.QUEUED)
    client.force_login(staff_user(VIEW))

    assert offered_actions(client, CHANGELIST) == set()
    post_cancel(client, queued)

    assert EmailDelivery.objects.get(pk=queued.pk).status == Status.QUEUED
    assert not LogEntry.objects.exists()
    client.force_login(staff_user(VIEW, CANCEL))
    assert "cancel" in offered_actions(client, CHANGELIST)
    with pytest.raises(PermissionDenied, match=r"mailing\.cancel_delivery"):
        cancel.cancel_deliveries(EmailDelivery.objects.all(), by=UserFactory(is_staff=True))


def test_cancel_ends_what_has_not_left_names_the_rest_and_logs_each(client):
    cancellable = [
        delivery(Status.QUEUED),
        delivery(Status.RETRYING, next_attempt_at=overdue()),
        delivery(Status.UNCONFIRMED, last_error="ReadTimeout: timed out"),
        delivery(Status.FAILED, last_error="boom", next_attempt_at=None),
    ]
    sending, sent, cancelled = (
        delivery(status) for status in (Status.SENDING, Status.SENT, Status.CANCELLED)
    )
    ops = staff_user(VIEW, CANCEL)
    client.force_login(ops)

    response = post_cancel(client, *cancellable, sending, sent, cancelled)

    assert [str(message) for message in response.context["messages"]] == [
        "4 email delivery(ies) cancelled.",
        f"Not cancelled: delivery {sending.pk} to sending@example.com (being sent right now; "
        f"try again once the attempt ends), delivery {sent.pk} to sent@example.com (it has "
        f"left: sent (accepted by the provider)), delivery {cancelled.pk} to "
        "cancelled@example.com (already cancelled).",
    ]
    after = {row.pk: row for row in EmailDelivery.objects.all()}
    for row in cancellable:
        assert after[row.pk].status == Status.CANCELLED
        assert after[row.pk].next_attempt_at is None
        assert after[row.pk].last_error.startswith(f"Cancelled by {ops.username} at ")
    assert after[cancellable[3].pk].last_error.endswith("\nBefore that: boom")
    assert (after[sending.pk].status, after[sent.pk].status) == (Status.SENDING, Status.SENT)
    entries = LogEntry.objects.order_by("object_id")
    assert [(e.user, e.object_id, e.action_flag, e.change_message) for e in entries] == [
        (ops, str(row.pk), CHANGE, f"Status {row.status} → cancelled.") for row in cancellable
    ]


def test_the_confirmation_page_lists_what_it_would_cancel_and_changes_nothing(client):
    queued, sent = delivery(Status.QUEUED), delivery(Status.SENT)
    client.force_login(staff_user(VIEW, CANCEL))
    before = statuses()

    asked = post_cancel(client, queued, sent, confirm=False)

    page = asked.content.decode()
    assert asked.templates[0].name == "admin/confirm_action.html"
    assert "Cancel 1 email delivery(ies)?" in page
    assert f"delivery {queued.pk} to queued@example.com: S (queued)" in page
    assert f"Left as they are: delivery {sent.pk} to sent@example.com" in page
    assert statuses() == before
    assert not LogEntry.objects.exists()


def test_a_delivery_the_send_task_claimed_meanwhile_is_not_cancelled(monkeypatch):
    """The operator saw it queued; the send task claimed it before the cancel landed."""
    queued = delivery(Status.QUEUED)
    chosen = EmailDelivery.objects.filter(pk=queued.pk)
    seen_queued = cancel.plan_cancel(chosen)
    EmailDelivery.objects.filter(pk=queued.pk).update(status=Status.SENDING)  # the claim
    monkeypatch.setattr(cancel, "plan_cancel", lambda deliveries: seen_queued)

    done = cancel.cancel_deliveries(chosen, by=staff_user(CANCEL))

    assert done.cancelled == []
    assert "being sent right now" in done.refused[0]
    assert EmailDelivery.objects.get(pk=queued.pk).status == Status.SENDING
    assert not LogEntry.objects.exists()


def test_a_cancelled_delivery_is_never_sent_requeued_or_retried(settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.RECONCILE_STALLED_AFTER = 60
    owed = delivery(Status.RETRYING, next_attempt_at=overdue())
    cancel.cancel_deliveries(EmailDelivery.objects.filter(pk=owed.pk), by=staff_user(CANCEL))
    EmailDelivery.objects.filter(pk=owed.pk).update(next_attempt_at=overdue())
    queued_again = []
    sent_tasks = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent_tasks.append(kwargs),
    )
    failure = TaskResult.objects.create(
        task_id=uuid(),
        task_name="apps.mailing.tasks.send_email_delivery",
        status=states.FAILURE,
        meta=json.dumps({"args": [owed.pk], "kwargs": {}}),
    )

    assert send_delivery(owed.pk, task_id="t1", backoff=email_backoff) == "cancelled"
    reconciled = reconcile_deliveries(lambda *args: queued_again.append(args), email_backoff)
    with pytest.raises(NotRetryable, match="is not sent again: Cancelled by "):
        retry_failed_task(failure, retried_by_name="ops")
    mark_failed(owed.pk, "an unforeseen error")

    assert mail.outbox == []
    assert (reconciled.requeued, reconciled.unconfirmed, queued_again) == ([], [], [])
    assert not owed_deliveries().exists() and not stalled_deliveries().exists()
    assert sent_tasks == [] and not TaskRetry.objects.exists()
    assert EmailDelivery.objects.get(pk=owed.pk).status == Status.CANCELLED


def test_a_provider_event_after_the_cancel_still_says_it_left(settings):
    """An unconfirmed send did reach the provider: the record follows what happened."""
    settings.EMAIL_TRACKING_ENABLED = True
    unconfirmed = delivery(Status.UNCONFIRMED, provider_message_id="m-1")
    cancel.cancel_deliveries(EmailDelivery.objects.all(), by=staff_user(CANCEL))
    event = AnymailTrackingEvent(
        event_type=EventType.DELIVERED, message_id="m-1", recipient=unconfirmed.to_email
    )

    assert record_tracking_event(event, "Postmark") == "updated"
    assert EmailDelivery.objects.get(pk=unconfirmed.pk).status == Status.DELIVERED


def test_a_cancelled_report_email_is_not_asked_again_but_another_copy_is_sent(
    admin_client, celery_eager, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    team = TeamFactory(manager=UserFactory(username="maria"))
    add_rep(team)
    period = default_period()
    _, first = prepare_report_email(team.manager, period)
    cancel.cancel_deliveries(EmailDelivery.objects.all(), by=staff_user(CANCEL))
    changelist = reverse("admin:commission_team_changelist")

    # The month's key stays taken: asking for the report again sends nothing, and says why.
    answer = admin_client.post(
        changelist, {"action": "send_last_month_report", "_selected_action": [team.pk]}, follow=True
    )
    assert f"the {period} report email was cancelled for maria" in answer.content.decode()
    out = StringIO()
    call_command("send_commission_report", "--manager", "maria", stdout=out)
    assert "was cancelled (email delivery" in out.getvalue()
    assert generate_and_send_commission_report(team.manager.pk, str(period))["email"] == (
        "cancelled"
    )
    assert mailoutbox == []

    # Another copy is a new key, so a new delivery, and it goes out.
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            changelist,
            {
                "action": "send_another_copy",
                "_selected_action": [team.pk],
                "confirm_another_copy": "yes",
            },
        )
    assert [message.to for message in mailoutbox] == [[team.manager.email]]
    assert EmailDelivery.objects.get(pk=first.pk).status == Status.CANCELLED
