"""Report emails leave through Anymail's real Postmark backend, retried without duplicates.

Real email (and reports) workers on the suite's Redis talk HTTP to a local server
that plays Postmark (tests/support/fake_provider.py); their retry backoff is one
second through WorkerPool.BASE_ENV, and the provider timeout is one second here.
"""

import pytest
from celery import states

from apps.commission.periods import default_period
from apps.commission.services import record_deal
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import send_email_delivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.fake_provider import (
    SERVER_TOKEN,
    hang,
    postmark_error,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

Status = EmailDelivery.Status
RESULT_TIMEOUT = 30

SENDER_SIGNATURE_ERROR = (
    "The 'From' address you supplied (reports@localhost) is not a Sender Signature on your "
    "account. Please add and confirm this address in order to be able to use it in the 'From' "
    "field of your messages."
)
INACTIVE_RECIPIENT_ERROR = (
    "You tried to send to a recipient that has been marked as inactive.\n"
    "Found inactive addresses: gone@example.com.\n"
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint. "
)


@pytest.fixture
def postmark(fake_postmark, worker_pool):
    """The fake Postmark, emptied, and an email worker that sends to it."""
    fake_postmark.reset()
    worker_pool.ensure("email", **fake_postmark.worker_env())
    yield fake_postmark
    fake_postmark.reset()


def new_delivery(key: str, to_email: str = "manager@example.com") -> EmailDelivery:
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}",
        to_email=to_email,
        subject=f"Test {key}",
        body_text="Plain text body",
        body_html="<p>HTML body</p>",
    )
    return delivery


def send(delivery: EmailDelivery):
    """Run the send task on the email worker; its final result (after any retries)."""
    result = send_email_delivery.delay(delivery.pk)
    result.get(timeout=RESULT_TIMEOUT, propagate=False)
    delivery.refresh_from_db()
    return result


def test_report_email_goes_out_through_postmark_and_keeps_its_message_id(postmark, worker_pool):
    worker_pool.ensure("reports")
    manager = UserFactory(username="pm-boss")
    team = TeamFactory(name="Postmark team", manager=manager)
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    period = default_period()
    record_deal(rep=rep, amount="1000.00", closed_on=period.start, external_ref="PM-1")

    outcome = generate_and_send_commission_report.delay(manager.pk, str(period)).get(
        timeout=RESULT_TIMEOUT
    )
    delivery = wait_for(
        lambda: EmailDelivery.objects.filter(pk=outcome["delivery_id"], status=Status.SENT).first(),
        timeout=RESULT_TIMEOUT,
        what="the delivery to be sent",
    )

    [request] = postmark.requests()
    assert request.path == "/email"
    assert request.headers["X-Postmark-Server-Token"] == SERVER_TOKEN
    sent = request.json
    assert sent["To"] == "pm-boss@example.com"
    assert sent["Subject"] == f"Commission report {period}: Postmark team"
    assert "Ann Lee" in sent["TextBody"]
    assert "Ann Lee" in sent["HtmlBody"]
    assert [item["Name"] for item in sent["Attachments"]] == [
        f"commission-report-{period}.csv",
        f"commission-deals-{period}.csv",
    ]
    assert all(item["ContentType"].startswith("text/csv") for item in sent["Attachments"])
    # The HTML leaves with its styles inline: what the admin preview shows is what went.
    assert sent["HtmlBody"] == delivery.body_html and 'style="' in sent["HtmlBody"]
    assert sent["Metadata"]["delivery_id"] == str(delivery.pk)
    assert sent["Tag"] == "commission-report"
    assert delivery.provider_message_id == request.message_id
    assert delivery.attempts == 1


def test_two_503s_then_success_send_exactly_one_message(postmark):
    postmark.script(
        postmark_error(503, 0, "Service unavailable"), postmark_error(503, 0, "Service unavailable")
    )
    delivery = new_delivery("503")

    result = send(delivery)

    assert result.state == states.SUCCESS
    assert len(postmark.requests()) == 3
    [accepted] = postmark.accepted
    assert delivery.status == Status.SENT
    assert delivery.provider_message_id == accepted.message_id
    assert delivery.attempts == 3
    assert delivery.last_error == ""


def test_429_is_retried(postmark):
    postmark.script(postmark_error(429, 0, "Rate limit exceeded"))
    delivery = new_delivery("429")

    result = send(delivery)

    assert result.state == states.SUCCESS
    assert [request.reply.status for request in postmark.requests()] == [429, 200]
    assert delivery.status == Status.SENT
    assert delivery.provider_message_id == postmark.accepted[0].message_id


def test_timeout_is_retried(postmark):
    """The worker's threads pool enforces no time limit: a provider that hangs is cut
    off by ANYMAIL_REQUESTS_TIMEOUT (one second here), and the delivery is sent again."""
    postmark.script(hang())
    delivery = new_delivery("timeout")

    result = send(delivery)

    assert result.state == states.SUCCESS
    assert len(postmark.requests()) == 2
    assert len(postmark.accepted) == 1
    assert delivery.status == Status.SENT
    assert delivery.attempts == 2


def test_422_fails_at_once_with_the_providers_message(postmark):
    postmark.script(postmark_error(422, 400, SENDER_SIGNATURE_ERROR))
    delivery = new_delivery("422")

    result = send(delivery)

    assert result.state == states.FAILURE  # final: a retry would have left it in RETRY
    assert len(postmark.requests()) == 1
    assert postmark.accepted == []
    assert delivery.status == Status.FAILED
    assert "is not a Sender Signature" in delivery.last_error
    assert delivery.attempts == 1


def test_all_recipients_refused_fails_at_once(postmark):
    postmark.script(postmark_error(422, 406, INACTIVE_RECIPIENT_ERROR))
    delivery = new_delivery("inactive", to_email="gone@example.com")

    result = send(delivery)

    assert result.state == states.FAILURE
    assert len(postmark.requests()) == 1
    assert delivery.status == Status.FAILED
    assert "AnymailRecipientsRefused" in delivery.last_error
    assert "marked as inactive" in delivery.last_error


def test_running_the_task_again_for_a_sent_delivery_sends_nothing(postmark):
    delivery = new_delivery("again")
    assert send(delivery).result == "sent"
    message_id = delivery.provider_message_id

    again = send_email_delivery.delay(delivery.pk).get(timeout=RESULT_TIMEOUT)

    assert again == "already-sent"
    assert len(postmark.requests()) == 1
    delivery.refresh_from_db()
    assert delivery.provider_message_id == message_id
    assert delivery.attempts == 1
