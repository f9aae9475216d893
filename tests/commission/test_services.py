"""The commission's writes (apps.commission.services): deals and their commissions, team
memberships and the database's own guards, report requests recorded before they are
queued, and the report email prepared (the month in progress, long team names)."""

import datetime as dt
import logging
from decimal import Decimal
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.commission.models import Commission, CommissionReport, Deal, ReportRequest, TeamMembership
from apps.commission.periods import current_period, default_period
from apps.commission.report import request as report_request
from apps.commission.report.request import ReportRequestError
from apps.commission.services import (
    CommissionDataError,
    join_team,
    prepare_report_email,
    record_deal,
    request_report,
)
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.owed_work import PERIOD, Recorder

pytestmark = pytest.mark.django_db

D = dt.date


def test_record_deal_uses_the_team_rate_and_rounds_half_up():
    team = TeamFactory(commission_rate=Decimal("7.50"))
    rep = add_rep(team)

    deal = record_deal(rep=rep, amount="333.35", closed_on=D(2025, 3, 4), external_ref="A-1")

    assert deal.team == team
    assert deal.currency == "USD"
    assert deal.commission.rate == Decimal("7.50")
    assert deal.commission.amount == Decimal("25.00")
    assert deal.commission.status == Commission.Status.PENDING
    assert deal.commission.earned_on == D(2025, 3, 4)


def test_record_deal_prefers_the_reps_own_rate():
    team = TeamFactory(commission_rate=Decimal("5.00"))
    rep = add_rep(team, rate_override=Decimal("12.5"))

    deal = record_deal(rep=rep, amount="1000.10", closed_on=D(2025, 3, 4), external_ref="A-2")

    assert deal.commission.rate == Decimal("12.50")
    assert deal.commission.amount == Decimal("125.01")


def test_record_deal_books_the_team_the_rep_was_in_on_the_closing_day():
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    rep = add_rep(north, joined_on=D(2025, 1, 1))
    join_team(rep, south, D(2025, 3, 15))

    before = record_deal(rep=rep, amount="10", closed_on=D(2025, 3, 14), external_ref="M-1")
    after = record_deal(rep=rep, amount="10", closed_on=D(2025, 3, 15), external_ref="M-2")

    assert (before.team, after.team) == (north, south)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": "-1.00"}, "negative amount"),
        ({"currency": "EUR"}, "records USD only"),
        ({"closed_on": D(2019, 1, 1)}, "in no team"),
    ],
)
def test_record_deal_refuses_inconsistent_deals(kwargs, message):
    rep = add_rep(TeamFactory(), joined_on=D(2020, 1, 1))
    arguments = {"rep": rep, "amount": "100", "closed_on": D(2025, 1, 1), "external_ref": "X"}

    with pytest.raises(CommissionDataError, match=message):
        record_deal(**{**arguments, **kwargs})
    assert not Deal.objects.exists()


def test_record_deal_refuses_a_deal_closing_after_today():
    rep = add_rep(TeamFactory(), joined_on=D(2020, 1, 1))

    record_deal(
        rep=rep, amount="100", closed_on=D(2025, 9, 7), external_ref="T", today=D(2025, 9, 7)
    )
    with pytest.raises(
        CommissionDataError,
        match=r"deal F closes on 2025-09-08, after today \(2025-09-07\); record it once",
    ) as refused:
        record_deal(
            rep=rep, amount="100", closed_on=D(2025, 9, 8), external_ref="F", today=D(2025, 9, 7)
        )
    assert refused.value.field == "closed_on"
    assert list(Deal.objects.values_list("external_ref", flat=True)) == ["T"]


def test_record_deal_takes_today_in_the_configured_time_zone(settings):
    rep = add_rep(TeamFactory(), joined_on=D(2020, 1, 1))
    # 2025-10-01 02:30 in Moscow is still 2025-09-30 in UTC.
    instant = dt.datetime(2025, 9, 30, 23, 30, tzinfo=dt.UTC)
    with mock.patch("django.utils.timezone.now", return_value=instant):
        settings.TIME_ZONE = "UTC"
        with pytest.raises(CommissionDataError, match="after today"):
            record_deal(rep=rep, amount="1", closed_on=D(2025, 10, 1), external_ref="UTC")
        settings.TIME_ZONE = "Europe/Moscow"
        record_deal(rep=rep, amount="1", closed_on=D(2025, 10, 1), external_ref="MSK")

    assert list(Deal.objects.values_list("external_ref", flat=True)) == ["MSK"]


def test_a_deal_is_recorded_once_by_its_external_reference():
    rep = add_rep(TeamFactory())
    record_deal(rep=rep, amount="100", closed_on=D(2025, 1, 1), external_ref="DUP")

    with pytest.raises(CommissionDataError, match="already recorded"):
        record_deal(rep=rep, amount="100", closed_on=D(2025, 1, 1), external_ref="DUP")
    assert Deal.objects.count() == 1


def test_join_team_closes_the_open_membership_and_keeps_history():
    north, south = TeamFactory(), TeamFactory()
    rep = add_rep(north, joined_on=D(2025, 1, 1))

    join_team(rep, south, D(2025, 6, 1))

    history = list(TeamMembership.objects.filter(rep=rep).order_by("joined_on"))
    assert [(m.team, m.joined_on, m.left_on) for m in history] == [
        (north, D(2025, 1, 1), D(2025, 5, 31)),
        (south, D(2025, 6, 1), None),
    ]


def test_join_team_refuses_to_rewrite_history():
    north, south = TeamFactory(), TeamFactory()
    rep = add_rep(north, joined_on=D(2025, 6, 1))

    with pytest.raises(CommissionDataError, match="cannot join"):
        join_team(rep, south, D(2025, 5, 1))


def test_database_allows_one_open_membership_per_rep():
    rep = UserFactory()
    TeamMembership.objects.create(team=TeamFactory(), rep=rep, joined_on=D(2025, 1, 1))

    with pytest.raises(IntegrityError), transaction.atomic():
        TeamMembership.objects.create(team=TeamFactory(), rep=rep, joined_on=D(2025, 2, 1))


@pytest.mark.parametrize(
    "make",
    [
        lambda rep, team: Deal.objects.create(
            rep=rep,
            team=team,
            amount=Decimal("-1"),
            currency="USD",
            closed_on=D(2025, 1, 1),
            external_ref="NEG",
        ),
        lambda rep, team: TeamMembership.objects.create(
            team=team, rep=UserFactory(), joined_on=D(2025, 2, 1), left_on=D(2025, 1, 1)
        ),
        lambda rep, team: TeamFactory(commission_rate=Decimal("100.01")),
    ],
    ids=["negative-deal", "leaves-before-joining", "rate-over-100"],
)
def test_database_check_constraints(make):
    team = TeamFactory()
    rep = add_rep(team)

    with pytest.raises(IntegrityError), transaction.atomic():
        make(rep, team)


def test_database_refuses_a_negative_commission():
    rep = add_rep(TeamFactory())
    deal = record_deal(rep=rep, amount="100", closed_on=D(2025, 1, 1), external_ref="C-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Commission.objects.filter(pk=deal.commission.pk).update(amount=Decimal("-0.01"))


@pytest.mark.django_db(transaction=True)
def test_a_request_is_recorded_before_it_is_queued_and_survives_a_broker_outage(maria, caplog):
    with caplog.at_level(logging.WARNING, logger="core.enqueue"):
        request, queued = request_report(
            maria, PERIOD, Recorder(broker_away=True), source=ReportRequest.Source.COMMAND
        )

    assert queued is False
    request.refresh_from_db()
    assert (request.status, request.manager, request.period) == (
        ReportRequest.Status.QUEUED,
        maria,
        "2025-09",
    )
    assert f"Could not queue report request {request.pk}" in caplog.text


def test_a_report_of_the_month_in_progress_is_month_to_date_and_keeps_the_months_email(
    monkeypatch,
):
    team = TeamFactory(name="Now")
    add_rep(team)
    period = current_period()

    report, delivery = prepare_report_email(team.manager, period)

    today = timezone.localdate().isoformat()
    assert f"(month to date, as of {today})" in report.subject
    first_lines = " ".join(report.body_text.splitlines()[:2])
    assert first_lines.endswith(f"(month to date, as of {today})")
    assert f"to {today}." in report.body_text
    assert delivery.idempotency_key.endswith(f":to-date:{today}")
    # Once the month is over, its report has its own, unused key: not "already sent".
    monkeypatch.setattr(report_request, "month_to_date", lambda period: None)
    month_end_key = report_request.report_idempotency_key(team.manager, period)
    assert month_end_key == f"commission-report:{team.manager.pk}:{period}"
    assert month_end_key != delivery.idempotency_key


def test_long_team_names_shorten_the_subject_and_never_stop_the_report():
    manager = UserFactory(username="long-names")
    for letter in "ABC":
        TeamFactory(name=letter * 114, manager=manager)

    report, delivery = prepare_report_email(manager, default_period())

    limit = CommissionReport._meta.get_field("subject").max_length
    assert limit == EmailDelivery._meta.get_field("subject").max_length == 255
    assert len(report.subject) <= limit and len(delivery.subject) <= limit
    assert report.subject.endswith("…")


def test_a_report_email_says_whom_it_is_for_which_month_and_which_copy():
    team = TeamFactory()
    period = default_period()

    _, original = prepare_report_email(team.manager, period)
    _, copy = prepare_report_email(team.manager, period, resend_key="abc123")

    assert (original.user, original.period, original.resend_key) == (
        team.manager,
        str(period),
        "",
    )
    assert (copy.user, copy.period, copy.resend_key) == (team.manager, str(period), "abc123")


@pytest.mark.django_db
def test_preparing_a_report_email_refuses_an_invalid_address_naming_the_manager(manager):
    TeamFactory(manager=manager)
    type(manager).objects.filter(pk=manager.pk).update(email="mgr at example")
    manager.refresh_from_db()

    with pytest.raises(ReportRequestError, match=r"Maria Ivanova \(mgr\) has no valid email"):
        prepare_report_email(manager, default_period())

    assert not EmailDelivery.objects.exists()
