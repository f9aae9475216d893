"""Bounces, spam complaints and refusals end to end, on real workers and the stand-in
Postmark (tests/support/fake_provider.py): its webhooks, real Postmark payloads, reach
the product's tracking URL (this process's live server, with the basic-auth secret); the
next report to a marked address is held; an operator clearing the mark, or correcting the
manager's address, in the admin sends it."""

import pytest
from django.urls import reverse

from apps.commission.periods import default_period
from apps.commission.services import record_deal
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery, UndeliverableAddress
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.admin import staff_user, user_form
from tests.support.fake_provider import bounce_event, inactive_recipient
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

Status = EmailDelivery.Status
SECRET = "postmark-hook:bounce-test-password"
TIMEOUT = 30
# Two months' reports for one manager: the second is the email after the bounce.
FIRST, SECOND = default_period().previous(), default_period()
MARKS = reverse("admin:mailing_undeliverableaddress_changelist")


@pytest.fixture
def postmark(fake_postmark, worker_pool, live_server, settings):
    """The stand-in Postmark, emptied, that the email worker sends through; and the URL
    its webhooks post to: this process's server, which takes them as production does."""
    fake_postmark.reset()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.EMAIL_TRACKING_ENABLED = True
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    worker_pool.ensure("reports")
    worker_pool.ensure("email", **fake_postmark.worker_env())
    host = live_server.url.removeprefix("http://")
    yield fake_postmark, f"http://{SECRET}@{host}/anymail/postmark/tracking/"
    fake_postmark.reset()


def manager(username: str):
    """A manager with a rep who closed a deal in each of the two months."""
    boss = UserFactory(username=username, first_name="Daniel", last_name="Brooks")
    rep = add_rep(TeamFactory(manager=boss))
    for period in (FIRST, SECOND):
        record_deal(rep=rep, amount="1000.00", closed_on=period.start, external_ref=f"{period}")
    return boss


def email_report(boss, period, *statuses: str) -> EmailDelivery:
    """Build and email the manager's report on the workers; its delivery once it is in
    one of `statuses`."""
    outcome = generate_and_send_commission_report.delay(boss.pk, str(period)).get(timeout=TIMEOUT)
    return wait_for(
        lambda: EmailDelivery.objects.filter(
            pk=outcome["delivery_id"], status__in=statuses
        ).first(),
        timeout=TIMEOUT,
        what=f"the {period} report's email to be {' or '.join(statuses)}",
    )


def reached(delivery: EmailDelivery, *statuses: str) -> EmailDelivery:
    return wait_for(
        lambda: EmailDelivery.objects.filter(pk=delivery.pk, status__in=statuses).first(),
        timeout=TIMEOUT,
        what=f"delivery {delivery.pk} to be {' or '.join(statuses)}",
    )


@pytest.mark.parametrize(
    ("event", "reason"), [("HardBounce", "bounced"), ("SpamComplaint", "complained")]
)
def test_a_bounce_or_complaint_holds_the_next_report_until_an_operator_clears_it(
    postmark, client, event, reason
):
    provider, webhook = postmark
    boss = manager(f"pm-{reason}")
    first = email_report(boss, FIRST, Status.SENT)
    [sent] = provider.accepted
    metadata = sent.json["Metadata"]

    # A delay and a soft bounce say nothing about the address.
    for soft in ("Transient", "SoftBounce"):
        posted = provider.post_event(
            webhook, bounce_event(sent.message_id, boss.email, soft, metadata)
        )
        assert posted.status_code == 200
    assert reached(first, Status.BOUNCED)
    assert not UndeliverableAddress.objects.exists()
    posted = provider.post_event(
        webhook, bounce_event(sent.message_id, boss.email, event, metadata)
    )
    assert posted.status_code == 200

    mark = UndeliverableAddress.objects.get()
    assert (mark.email, mark.reason, mark.delivery_id) == (boss.email, reason, first.pk)
    second = email_report(boss, SECOND, Status.HELD)
    assert len(provider.requests()) == 1  # the held email never reached the provider
    assert second.last_error.startswith(f"Held, not sent: {boss.email} is marked undeliverable")
    assert f"clear mark {mark.pk}" in second.last_error

    client.force_login(
        staff_user("mailing.view_undeliverableaddress", "mailing.clear_undeliverableaddress")
    )
    chosen = {"action": "clear_marks", "_selected_action": [mark.pk]}
    asked = client.post(MARKS, chosen)
    assert f"sends delivery {second.pk}" in asked.content.decode()
    client.post(MARKS, {**chosen, "confirm_clear": "yes"})

    reached(second, Status.SENT)
    assert [request.recipient for request in provider.accepted] == [boss.email, boss.email]
    mark.refresh_from_db()
    assert mark.cleared_at is not None


def test_a_refusal_marks_the_address_and_correcting_it_sends_both_reports_there(postmark, client):
    provider, _ = postmark
    boss = manager("pm-refused")
    provider.script(inactive_recipient(boss.email))

    refused = email_report(boss, FIRST, Status.FAILED)
    held = email_report(boss, SECOND, Status.HELD)

    assert "because it is suppressed there" in refused.last_error
    mark = UndeliverableAddress.objects.get()
    assert (mark.email, mark.reason, mark.delivery_id) == (boss.email, "refused", refused.pk)
    assert len(provider.requests()) == 1
    client.force_login(staff_user("accounts.view_user", "accounts.change_user"))

    response = client.post(
        reverse("admin:accounts_user_change", args=[boss.pk]),
        user_form(boss, email="daniel.brooks@example.com"),
    )

    assert response.status_code == 302
    for delivery in (refused, held):
        reached(delivery, Status.SENT)
        delivery.refresh_from_db()
        assert delivery.to_email == "daniel.brooks@example.com"
        assert [(c["old"], c["new"]) for c in delivery.readdressed] == [
            (boss.email, "daniel.brooks@example.com")
        ]
    assert [request.recipient for request in provider.accepted] == ["daniel.brooks@example.com"] * 2
    # The old address stays marked: nothing goes there.
    assert UndeliverableAddress.objects.get().cleared_at is None
