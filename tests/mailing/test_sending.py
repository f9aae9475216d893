"""One attempt at sending a delivery (apps.mailing.sending), and what it leaves behind: sent
once, not due yet, retrying with its due time, unconfirmed when the provider may have the
message, failed when the attempts are used up."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.send_errors import TransientEmailError
from apps.mailing.sending import send_delivery
from apps.mailing.tasks import email_backoff
from tests.support.fake_provider import SERVER_TOKEN, hang, postmark_error, too_many_requests
from tests.support.owed_work import new_delivery
from tests.support.processes import free_port

Status = EmailDelivery.Status


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def postmark(fake_postmark, settings):
    """This process sends through Anymail's Postmark backend to the fake Postmark."""
    fake_postmark.reset()
    fake_postmark.send_here(settings)
    yield fake_postmark
    fake_postmark.reset()


@pytest.mark.django_db
def test_a_new_delivery_is_due_at_once_and_sent_once(locmem):
    delivery = new_delivery()
    assert delivery.status == Status.QUEUED
    assert delivery.next_attempt_at <= timezone.now()

    assert send_delivery(delivery.pk, task_id="t1", backoff=email_backoff) == "sent"
    assert send_delivery(delivery.pk, task_id="t2", backoff=email_backoff) == "already-sent"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_message_that_comes_before_the_delivery_is_due_sends_nothing(locmem):
    """A stray second message (the reconciler's, while the broker still had the first)
    must not start a second chain of retries."""
    delivery = new_delivery(
        status=Status.RETRYING, next_attempt_at=timezone.now() + dt.timedelta(minutes=5)
    )

    assert send_delivery(delivery.pk, task_id="stray", backoff=email_backoff) == "not-due"
    assert mail.outbox == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.RETRYING, 0)


@pytest.mark.django_db
def test_a_provider_error_answer_is_retried_as_retrying_with_its_due_time(postmark, settings):
    postmark.script(postmark_error(503, 0, "Service unavailable"))
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING
    assert delivery.next_attempt_at == raised.value.retry_at
    assert 59 <= (raised.value.retry_at - timezone.now()).total_seconds() <= 60


@pytest.mark.django_db
def test_a_connection_that_never_opened_is_a_plain_retry(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
        "POSTMARK_API_URL": f"http://127.0.0.1:{free_port()}/",
    }
    delivery = new_delivery()

    with pytest.raises(TransientEmailError):
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.RETRYING


@pytest.mark.django_db
@pytest.mark.parametrize("tracking", [True, False])
def test_a_timeout_after_the_request_went_out_is_unconfirmed(postmark, settings, tracking):
    """The provider may have the message: with tracking on, wait for its event
    (EMAIL_UNCONFIRMED_WAIT) before sending again; without, retry as usual."""
    settings.EMAIL_TRACKING_ENABLED = tracking
    settings.EMAIL_UNCONFIRMED_WAIT = 600
    postmark.script(hang())
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 60)

    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert "Read timed out" in delivery.last_error
    wait = (raised.value.retry_at - timezone.now()).total_seconds()
    assert 590 <= wait <= 600 if tracking else 50 <= wait <= 60


@pytest.mark.django_db
def test_a_429_waits_its_retry_after_and_is_not_a_failed_attempt(postmark, settings):
    settings.EMAIL_RETRY_BACKOFF_MAX = 900
    postmark.script(too_many_requests("120"))
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: 5)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.RETRYING, 0)
    assert delivery.next_attempt_at == raised.value.retry_at
    assert 110 <= (raised.value.retry_at - timezone.now()).total_seconds() <= 121
    assert "429" in delivery.last_error


@pytest.mark.django_db
def test_429s_never_use_up_the_attempts(postmark):
    """However often the provider asks for a slower pace, the delivery keeps waiting
    and is sent in the end; a 503 in its place would have failed it at the third."""
    postmark.script(*[too_many_requests(None)] * 5)
    delivery = new_delivery()

    for _ in range(5):
        with pytest.raises(TransientEmailError):
            send_delivery(delivery.pk, task_id="t", backoff=lambda a: 30 if a <= 2 else None)
        EmailDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())

    assert send_delivery(delivery.pk, task_id="t", backoff=lambda a: None) == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SENT, 1)
    assert len(postmark.accepted) == 1


@pytest.mark.django_db
def test_attempts_used_up_fail_the_delivery_and_schedule_nothing(postmark):
    postmark.script(postmark_error(503, 0, "Service unavailable"))
    delivery = new_delivery()

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="t", backoff=lambda attempts: None)

    assert raised.value.retry_at is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == (Status.FAILED, None)


@pytest.mark.django_db
def test_a_message_redelivered_after_its_worker_died_mid_send_marks_it_unconfirmed(locmem):
    """The broker hands back the message of a worker process that died (acks_late):
    the row still says this very task was sending, so nobody knows if it left."""
    delivery = new_delivery(
        status=Status.SENDING, sending_since=timezone.now(), sending_task_id="task-1", attempts=1
    )

    with pytest.raises(TransientEmailError) as raised:
        send_delivery(delivery.pk, task_id="task-1", backoff=lambda attempts: 30)

    assert mail.outbox == []
    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert "died while sending" in delivery.last_error
    assert delivery.next_attempt_at == raised.value.retry_at
    # Another task's message finds it sending by someone else: not its business.
    other = new_delivery(
        "other", status=Status.SENDING, sending_since=timezone.now(), sending_task_id="task-1"
    )
    assert send_delivery(other.pk, task_id="task-2", backoff=email_backoff) == "not-due"
