"""Approving and paying commissions: each behind its own permission, forward only, one
step at a time, asked first, and every move in the admin log under its operator's name."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from apps.commission import payouts
from apps.commission.models import Commission
from apps.commission.services import record_deal
from tests.factories import TeamFactory, add_rep
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:commission_commission_changelist")
VIEW = "commission.view_commission"
APPROVE = "commission.approve_commission"
PAY = "commission.pay_commission"


@pytest.fixture(autouse=True)
def usd(settings):
    settings.COMMISSION_CURRENCY = "USD"


@pytest.fixture
def commissions() -> dict[str, Commission]:
    """D-1 and D-2 pending, D-3 approved, D-4 paid; each 100.00 (10 % of a 1000 deal)."""
    rep = add_rep(TeamFactory(commission_rate=Decimal("10.00")), joined_on=dt.date(2024, 1, 1))
    made = {}
    for ref, status in (
        ("D-1", "pending"),
        ("D-2", "pending"),
        ("D-3", "approved"),
        ("D-4", "paid"),
    ):
        deal = record_deal(
            rep=rep, amount="1000", closed_on=dt.date(2024, 6, 1), external_ref=ref, status=status
        )
        made[ref] = deal.commission
    return made


def operator(name: str, *permissions: str):
    """A staff user with exactly these permissions, named (staff_user names by count)."""
    user = staff_user(*permissions)
    user.username = name
    user.save(update_fields=["username"])
    return user


def statuses() -> dict[str, str]:
    return dict(Commission.objects.values_list("deal__external_ref", "status"))


def act(client, action: str, *chosen: Commission, confirm: bool = True):
    data = {"action": action, "_selected_action": [commission.pk for commission in chosen]}
    if confirm:
        data[f"confirm_{action}"] = "yes"
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


ALL_MOVES = ["mark_approved", "mark_paid"]


@pytest.mark.parametrize(
    "permissions", [[VIEW], [VIEW, "commission.change_commission"]], ids=["view", "view+change"]
)
def test_without_the_dedicated_permissions_nothing_is_offered_and_a_forged_post_changes_nothing(
    client, commissions, permissions
):
    client.force_login(operator("clerk", *permissions))
    before = statuses()

    assert offered_actions(client, CHANGELIST) == set()
    for action in ALL_MOVES:
        act(client, action, *commissions.values())

    assert statuses() == before
    assert not LogEntry.objects.exists()
    # The change form is no way round either.
    change = reverse("admin:commission_commission_change", args=[commissions["D-1"].pk])
    assert client.post(change, {"status": "paid"}).status_code == 403
    assert statuses() == before


def test_each_permission_offers_its_own_action_only(client, commissions):
    client.force_login(operator("approver", VIEW, APPROVE))
    assert offered_actions(client, CHANGELIST) - {""} == {"mark_approved"}

    client.force_login(operator("payer", VIEW, PAY))
    assert offered_actions(client, CHANGELIST) - {""} == {"mark_paid"}


def test_approving_moves_the_pending_ones_names_the_rest_and_logs_each(client, commissions):
    approver = operator("approver", VIEW, APPROVE)
    client.force_login(approver)

    response = act(client, "mark_approved", *commissions.values())

    assert statuses() == {"D-1": "approved", "D-2": "approved", "D-3": "approved", "D-4": "paid"}
    assert messages_of(response) == [
        "2 commission(s) approved, 200.00 USD in all.",
        "Not approved: D-3 (already approved), D-4 (already paid).",
    ]
    entries = LogEntry.objects.order_by("object_id")
    assert [
        (entry.user, entry.object_id, entry.action_flag, entry.change_message) for entry in entries
    ] == [
        (approver, str(commissions[ref].pk), CHANGE, "Status pending → approved.")
        for ref in ("D-1", "D-2")
    ]
    assert entries[0].get_edited_object() == commissions["D-1"]


def test_paying_needs_an_approval_first_and_may_be_someone_elses(client, commissions):
    payer = operator("payer", VIEW, PAY)
    client.force_login(payer)

    response = act(client, "mark_paid", *commissions.values())

    assert statuses() == {"D-1": "pending", "D-2": "pending", "D-3": "paid", "D-4": "paid"}
    assert messages_of(response) == [
        "1 commission(s) marked paid, 100.00 USD in all.",
        "Not marked paid: D-1 (pending, approve it first), D-2 (pending, approve it first), "
        "D-4 (already paid).",
    ]
    [entry] = LogEntry.objects.all()
    assert (entry.user, entry.object_id, entry.change_message) == (
        payer,
        str(commissions["D-3"].pk),
        "Status approved → paid.",
    )

    # Approved by one person, paid by another: both on record.
    approver = operator("approver", VIEW, APPROVE)
    client.force_login(approver)
    act(client, "mark_approved", commissions["D-1"])
    client.force_login(payer)
    act(client, "mark_paid", commissions["D-1"])
    history = LogEntry.objects.filter(object_id=str(commissions["D-1"].pk)).order_by("pk")
    assert [(entry.user, entry.change_message) for entry in history] == [
        (approver, "Status pending → approved."),
        (payer, "Status approved → paid."),
    ]


def test_the_confirmation_page_shows_the_count_and_total_and_changes_nothing(client, commissions):
    client.force_login(operator("approver", VIEW, APPROVE))

    asked = act(client, "mark_approved", *commissions.values(), confirm=False)

    assert asked.templates[0].name == "admin/confirm_action.html"
    page = asked.content.decode()
    assert "Approve 2 commission(s)?" in page
    assert "2 commission(s), 200.00 USD in all, will be approved:" in page
    assert "D-1: 100.00 USD to " in page and "D-2: 100.00 USD to " in page
    assert "Left as they are: D-3 (already approved), D-4 (already paid)." in page
    assert 'name="confirm_mark_approved" value="yes"' in page
    assert statuses()["D-1"] == statuses()["D-2"] == "pending"
    assert not LogEntry.objects.exists()


def test_with_nothing_to_move_there_is_no_question_only_the_reasons(client, commissions):
    client.force_login(operator("payer", VIEW, PAY))

    response = act(client, "mark_paid", commissions["D-4"], confirm=False)

    assert response.templates[0].name != "admin/confirm_action.html"
    assert messages_of(response) == ["Not marked paid: D-4 (already paid)."]


def test_a_commission_moved_meanwhile_by_someone_else_is_not_moved_twice(commissions, monkeypatch):
    """Two operators approve D-1 at once: both read it pending, only one moves it."""
    approver = operator("approver", VIEW, APPROVE)
    chosen = Commission.objects.filter(pk=commissions["D-1"].pk)
    seen_pending = payouts.plan(payouts.APPROVE, chosen)
    Commission.objects.filter(pk=commissions["D-1"].pk).update(status="approved")  # the other
    monkeypatch.setattr(payouts, "plan", lambda step, commissions: seen_pending)

    done = payouts.approve_commissions(chosen, by=approver)

    assert (done.moved, done.refused) == ([], ["D-1 (already approved)"])
    assert not LogEntry.objects.exists()


def test_the_service_checks_the_permission_and_logs_from_the_shell_too(commissions):
    approver = operator("approver", VIEW, APPROVE)
    pending = Commission.objects.filter(status="pending")

    with pytest.raises(PermissionDenied, match=r"commission\.pay_commission"):
        payouts.pay_commissions(Commission.objects.all(), by=approver)
    done = payouts.approve_commissions(pending, by=approver)

    assert [commission.deal.external_ref for commission in done.moved] == ["D-1", "D-2"]
    assert done.total == Decimal("200.00")
    assert LogEntry.objects.filter(user=approver).count() == 2
    assert statuses()["D-4"] == "paid"
