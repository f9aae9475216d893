"""The claim and the record of a send (apps.mailing.claims) are SQL written by hand: the
statuses they claim or keep are EmailDelivery's status sets, on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.mailing import claims
from apps.mailing.models import DeliveryStatus, EmailDelivery, UndeliverableAddress
from apps.mailing.services import create_delivery
from tests.factories import UserFactory
from tests.support.owed_work import new_delivery

Status = EmailDelivery.Status


def due_delivery(status: str, *, due: bool = True) -> EmailDelivery:
    delivery, _ = create_delivery(
        idempotency_key=f"test:claim:{status}:{due}",
        to_email="boss@example.com",
        subject="S",
        body_text="B",
    )
    when = timezone.now() + (dt.timedelta(0) if due else dt.timedelta(hours=1))
    EmailDelivery.objects.filter(pk=delivery.pk).update(status=status, next_attempt_at=when)
    return delivery


@pytest.mark.django_db
@pytest.mark.parametrize("status", DeliveryStatus.values)
def test_a_due_delivery_is_claimed_exactly_when_its_status_is_sendable(status):
    delivery = due_delivery(status)

    claimed = claims.claim(delivery.pk, "task-1")

    if status in EmailDelivery.SENDABLE:
        assert claimed is not None and claimed.pk == delivery.pk
        assert (claimed.status, claimed.sending_task_id, claimed.attempts) == (
            Status.SENDING,
            "task-1",
            1,
        )
        assert claimed.next_attempt_at is None
    else:
        assert claimed is None
        assert EmailDelivery.objects.get(pk=delivery.pk).status == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(EmailDelivery.SENDABLE))
def test_only_a_failed_delivery_is_claimed_before_it_is_due(status):
    """WAITING statuses wait for next_attempt_at; FAILED is an operator's retry."""
    delivery = due_delivery(status, due=False)

    claimed = claims.claim(delivery.pk, "task-1")

    assert (claimed is not None) == (status not in EmailDelivery.WAITING)


@pytest.mark.django_db
@pytest.mark.parametrize("status", DeliveryStatus.values)
def test_recording_sent_keeps_a_status_that_has_left_and_makes_any_other_sent(status):
    delivery = due_delivery(status)

    claims.record_sent(delivery.pk, "message-1")

    stored = EmailDelivery.objects.get(pk=delivery.pk)
    assert stored.status == (status if status in EmailDelivery.GONE else Status.SENT)
    assert (stored.provider_message_id, stored.last_error) == ("message-1", "")
    assert stored.sent_at is not None


@pytest.mark.django_db
def test_the_claim_follows_a_changed_status_set(monkeypatch):
    """The statement is built from EmailDelivery.WAITING and SENDABLE, not a copy of
    them: a status taken out of the sets is no longer claimed."""
    delivery = due_delivery(Status.RETRYING)
    monkeypatch.setattr(EmailDelivery, "WAITING", EmailDelivery.WAITING - {Status.RETRYING})
    monkeypatch.setattr(EmailDelivery, "SENDABLE", EmailDelivery.SENDABLE - {Status.RETRYING})
    claims._claim_statement.cache_clear()
    try:
        assert claims.claim(delivery.pk, "task-1") is None
    finally:
        monkeypatch.undo()
        claims._claim_statement.cache_clear()
    assert claims.claim(delivery.pk, "task-1") is not None


@pytest.mark.django_db
def test_recording_sent_follows_a_changed_set_of_statuses_that_have_left(monkeypatch):
    delivery = due_delivery(Status.DEFERRED)
    monkeypatch.setattr(EmailDelivery, "GONE", EmailDelivery.GONE - {Status.DEFERRED})
    claims._record_sent_statement.cache_clear()
    try:
        claims.record_sent(delivery.pk, "message-1")
    finally:
        monkeypatch.undo()
        claims._record_sent_statement.cache_clear()
    assert EmailDelivery.objects.get(pk=delivery.pk).status == Status.SENT


@pytest.mark.django_db
def test_an_unforeseen_failure_mid_send_is_left_to_the_reconciler_not_failed():
    """The hard time limit kills an attempt mid-call: Celery reports the failure, but
    the provider may have the message, so the row must not become a final FAILED."""
    sending = new_delivery("sending", status=Status.SENDING, sending_since=timezone.now())
    queued = new_delivery("queued")

    for delivery in (sending, queued):
        claims.mark_failed(delivery.pk, "TimeLimitExceeded: 180")

    assert EmailDelivery.objects.get(pk=sending.pk).status == Status.SENDING
    assert EmailDelivery.objects.get(pk=queued.pk).status == Status.FAILED


@pytest.mark.django_db
def test_the_claim_brings_the_users_address_and_the_open_mark_on_where_it_goes():
    """What the send checks first comes back with the claim: no extra round trip."""
    boss = UserFactory(username="boss", email="New@Example.com")
    no_user = due_delivery(Status.QUEUED)
    moved = new_delivery("moved", user=boss)  # to boss@example.com, boss has moved since
    old = UndeliverableAddress.objects.create(email="boss@example.com", reason="bounced")
    mark = UndeliverableAddress.objects.create(email="new@example.com", reason="refused")
    UndeliverableAddress.objects.create(
        email="new@example.com", reason="bounced", cleared_at=timezone.now()
    )

    first, second = claims.claim(no_user.pk, "t"), claims.claim(moved.pk, "t")

    # Without a user: the mark on its own address.
    assert (first.user_email, first.open_mark_id) == (None, old.pk)
    # With one: the user's address now, and the open mark on that one (any case).
    assert (second.user_email, second.open_mark_id) == ("New@Example.com", mark.pk)
