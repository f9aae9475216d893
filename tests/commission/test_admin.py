"""The commission admin: it writes deals and commissions only through the domain services,
and shows what they refuse as form errors, never a 500; the team actions email last
month's report, name whose has already left, and ask before another copy."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from apps.commission.models import Commission, Deal, Team
from apps.commission.periods import default_period
from apps.commission.services import join_team, record_deal
from tests.factories import TeamFactory, add_rep
from tests.support.reports import email_the_report

pytestmark = pytest.mark.django_db

DEAL_ADD = reverse("admin:commission_deal_add")


@pytest.fixture(autouse=True)
def usd(settings):
    settings.COMMISSION_CURRENCY = "USD"


@pytest.fixture
def north():
    return TeamFactory(name="North", commission_rate=Decimal("10.00"))


@pytest.fixture
def rep(north):
    """In North from 2024 at their own 12.50 %, in South (8 %) from 2025-01-01."""
    rep = add_rep(north, joined_on=dt.date(2024, 1, 1), rate_override=Decimal("12.50"))
    join_team(rep, TeamFactory(name="South", commission_rate=Decimal("8.00")), dt.date(2025, 1, 1))
    return rep


def add_deal(admin_client, rep, **fields):
    data = {
        "rep": rep.pk,
        "amount": "1000.00",
        "currency": "USD",
        "closed_on": "2024-06-15",
        "external_ref": "ADM-1",
        **fields,
    }
    return admin_client.post(DEAL_ADD, data)


def page_says(response, text: str) -> bool:
    return escape(text) in response.content.decode()


def test_the_add_form_asks_for_no_team_and_offers_only_the_deployment_currency(admin_client):
    form = admin_client.get(DEAL_ADD).context["adminform"].form

    assert "team" not in form.fields
    assert list(form.fields["currency"].choices) == [("USD", "USD")]
    # A new commission is pending: approving and paying take their own permissions.
    assert "status" not in form.fields
    assert not admin_client.get(DEAL_ADD).context["inline_admin_formsets"]


def test_a_good_deal_gets_the_reps_team_on_the_closing_day_and_its_commission(
    admin_client, rep, north
):
    response = add_deal(admin_client, rep, status="paid")  # a forged field, ignored

    assert response.status_code == 302
    deal = Deal.objects.get(external_ref="ADM-1")
    assert (deal.rep, deal.team, deal.amount, deal.currency) == (
        rep,
        north,
        Decimal("1000.00"),
        "USD",
    )
    commission = deal.commission
    assert (commission.rep, commission.rate, commission.amount, commission.status) == (
        rep,
        Decimal("12.50"),
        Decimal("125.00"),
        "pending",
    )
    assert commission.earned_on == dt.date(2024, 6, 15)
    assert response["Location"] == reverse("admin:commission_deal_changelist")


def test_a_deal_in_another_currency_is_refused(admin_client, rep):
    response = add_deal(admin_client, rep, currency="EUR")

    assert response.status_code == 200
    assert page_says(response, "This deployment records deals in USD only.")
    assert not Deal.objects.exists()


def test_a_deal_closed_when_the_rep_was_in_no_team_is_refused(admin_client, rep):
    response = add_deal(admin_client, rep, closed_on="2023-12-31")

    assert response.status_code == 200
    assert page_says(response, f"{rep} was in no team on 2023-12-31")
    assert not Deal.objects.exists()


def test_a_deal_closing_after_today_is_refused_beside_its_date(admin_client, rep):
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)

    response = add_deal(admin_client, rep, closed_on=tomorrow.isoformat())

    assert response.status_code == 200
    message = (
        f"deal ADM-1 closes on {tomorrow}, after today ({today}); record it once it has closed"
    )
    assert response.context["adminform"].form.errors["closed_on"] == [message]
    assert page_says(response, message)
    assert not Deal.objects.exists()
    # Today itself is fine.
    assert add_deal(admin_client, rep, closed_on=today.isoformat()).status_code == 302


def test_a_reference_already_recorded_is_refused(admin_client, rep):
    record_deal(rep=rep, amount="5", closed_on=dt.date(2024, 2, 1), external_ref="ADM-1")

    response = add_deal(admin_client, rep)

    assert response.status_code == 200
    assert page_says(response, "deal ADM-1 is already recorded")
    assert Deal.objects.count() == Commission.objects.count() == 1


def test_a_negative_amount_is_refused(admin_client, rep):
    response = add_deal(admin_client, rep, amount="-1")

    assert response.status_code == 200
    assert page_says(response, "Ensure this value is greater than or equal to 0.")
    assert not Deal.objects.exists()


def test_commissions_are_not_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:commission_commission_add")).status_code == 403
    changelist = admin_client.get(reverse("admin:commission_commission_changelist"))
    assert not changelist.context["has_add_permission"]


def test_a_recorded_deal_and_its_commission_are_read_only(admin_client, rep):
    deal = record_deal(rep=rep, amount="1000", closed_on=dt.date(2024, 6, 15), external_ref="D-1")
    commission = deal.commission

    change = admin_client.get(reverse("admin:commission_deal_change", args=[deal.pk]))
    assert not change.context["adminform"].form.fields  # every deal field is read-only
    [inline] = change.context["inline_admin_formsets"]
    assert "status" in inline.readonly_fields
    admin_client.post(
        reverse("admin:commission_deal_change", args=[deal.pk]),
        {
            "amount": "1",
            "external_ref": "D-2",
            "commission-TOTAL_FORMS": "1",
            "commission-INITIAL_FORMS": "1",
            "commission-0-id": commission.pk,
            "commission-0-deal": deal.pk,
            "commission-0-status": "paid",
        },
    )
    deal.refresh_from_db()
    commission.refresh_from_db()
    assert (deal.amount, deal.external_ref) == (Decimal("1000.00"), "D-1")
    assert commission.status == "pending"

    # Even a superuser moves the status only by the approve and pay actions.
    commission_change = reverse("admin:commission_commission_change", args=[commission.pk])
    assert not admin_client.get(commission_change).context["adminform"].form.fields
    response = admin_client.post(commission_change, {"status": "paid", "amount": "1"})
    assert response.status_code == 403
    commission.refresh_from_db()
    assert (commission.status, commission.amount) == ("pending", Decimal("125.00"))


def test_the_status_actions_ask_first_then_move_one_step(admin_client, rep):
    deal = record_deal(rep=rep, amount="100", closed_on=dt.date(2024, 6, 15), external_ref="D-1")
    changelist = reverse("admin:commission_commission_changelist")

    for action, status in (("mark_approved", "approved"), ("mark_paid", "paid")):
        chosen = {"action": action, "_selected_action": [deal.commission.pk]}
        asked = admin_client.post(changelist, chosen)
        assert asked.status_code == 200
        deal.commission.refresh_from_db()
        assert deal.commission.status != status
        admin_client.post(changelist, {**chosen, f"confirm_{action}": "yes"})
        deal.commission.refresh_from_db()
        assert deal.commission.status == status


def test_a_commission_goes_only_with_its_deal(admin_client, rep):
    deal = record_deal(rep=rep, amount="100", closed_on=dt.date(2024, 6, 15), external_ref="D-1")

    commission_delete = reverse("admin:commission_commission_delete", args=[deal.commission.pk])
    assert admin_client.post(commission_delete, {"post": "yes"}).status_code == 403
    assert Commission.objects.filter(deal=deal).exists()

    deal_delete = reverse("admin:commission_deal_delete", args=[deal.pk])
    assert admin_client.post(deal_delete, {"post": "yes"}).status_code == 302
    assert not Deal.objects.exists() and not Commission.objects.exists()


@pytest.mark.parametrize("status", ["approved", "paid"])
def test_a_deal_whose_commission_was_approved_or_paid_is_not_deleted(admin_client, rep, status):
    deal = record_deal(rep=rep, amount="100", closed_on=dt.date(2024, 6, 15), external_ref="D-1")
    Commission.objects.filter(deal=deal).update(status=status)

    single = admin_client.post(
        reverse("admin:commission_deal_delete", args=[deal.pk]), {"post": "yes"}
    )
    bulk = admin_client.post(
        reverse("admin:commission_deal_changelist"),
        {"action": "delete_selected", "_selected_action": [deal.pk], "post": "yes"},
    )

    for answer in (single, bulk):
        assert answer.status_code == 200  # the "cannot delete" page
        assert f"D-1: commission {status}" in answer.content.decode()
    assert Commission.objects.filter(deal=deal, status=status).exists()


def test_the_team_action_says_already_sent_and_another_copy_asks_first(
    admin_client, maria_team, monkeypatch, django_capture_on_commit_callbacks
):
    email_the_report(maria_team)
    queued = []
    monkeypatch.setattr(
        "apps.commission.tasks.generate_and_send_commission_report.delay",
        lambda *args: queued.append(args),
    )
    changelist = reverse("admin:commission_team_changelist")

    answer = admin_client.post(
        changelist,
        {"action": "send_last_month_report", "_selected_action": [maria_team.pk]},
        follow=True,
    )
    assert "already sent to maria" in answer.content.decode()
    assert queued == []

    asked = admin_client.post(
        changelist, {"action": "send_another_copy", "_selected_action": [maria_team.pk]}
    )
    assert asked.status_code == 200
    assert "maria &lt;maria@example.com&gt; (already sent)" in asked.content.decode()
    assert queued == []

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(
            changelist,
            {
                "action": "send_another_copy",
                "_selected_action": [maria_team.pk],
                "confirm_another_copy": "yes",
            },
            follow=True,
        )
    assert "Queued another copy of the" in done.content.decode()
    ((manager_id, period, resend_key),) = queued
    assert (manager_id, period) == (maria_team.manager_id, str(default_period()))
    assert resend_key


def test_team_action_queues_last_months_report(
    admin_client, maria_team, celery_eager, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:commission_team_changelist"),
            {"action": "send_last_month_report", "_selected_action": [maria_team.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Queued the" in response.content.decode()
    assert [message.to for message in mailoutbox] == [[maria_team.manager.email]]
    assert Team.objects.count() == 1
