"""The report's figures (apps.commission.report.figures): lines per rep, team and grand
totals split by status, who counts in a period, a few queries whatever the team's size."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.commission.models import Commission, Deal
from apps.commission.money import ZERO
from apps.commission.periods import Period
from apps.commission.report.figures import Figures, build_report
from apps.commission.report.render import render_csv, render_html, render_text, report_subject
from apps.commission.services import join_team, record_deal
from tests.factories import TeamFactory, add_rep

pytestmark = pytest.mark.django_db

D = dt.date
SEPT = Period(2025, 9)


def lines_by_name(section):
    return {line.name: line.figures for line in section.lines}


def test_rep_lines_team_totals_and_status_split(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    bob = add_rep(team, first_name="Bob", last_name="Ray")
    record_deal(rep=ann, amount="1000.00", closed_on=D(2025, 9, 1), external_ref="1")
    record_deal(
        rep=ann,
        amount="250.55",
        closed_on=D(2025, 9, 30),
        external_ref="2",
        status=Commission.Status.APPROVED,
    )
    record_deal(
        rep=bob,
        amount="99.95",
        closed_on=D(2025, 9, 15),
        external_ref="3",
        status=Commission.Status.PAID,
    )
    # Outside the period on both sides: not counted.
    record_deal(rep=ann, amount="5000", closed_on=D(2025, 8, 31), external_ref="4")
    record_deal(rep=bob, amount="5000", closed_on=D(2025, 10, 1), external_ref="5")

    report = build_report(manager, SEPT)

    (section,) = report.teams
    lines = lines_by_name(section)
    # Ann: 1000.00 -> 100.00 pending; 250.55 -> 25.055 -> 25.06 approved (half-up).
    assert lines["Ann Lee"] == Figures(
        deals=2,
        sales=Decimal("1250.55"),
        commission=Decimal("125.06"),
        pending=Decimal("100.00"),
        approved=Decimal("25.06"),
        paid=Decimal("0.00"),
    )
    # Bob: 99.95 -> 9.995 -> 10.00 paid.
    assert lines["Bob Ray"] == Figures(
        deals=1,
        sales=Decimal("99.95"),
        commission=Decimal("10.00"),
        paid=Decimal("10.00"),
    )
    assert section.totals == Figures(
        deals=3,
        sales=Decimal("1350.50"),
        commission=Decimal("135.06"),
        pending=Decimal("100.00"),
        approved=Decimal("25.06"),
        paid=Decimal("10.00"),
    )
    assert report.totals == section.totals
    assert report.currency == "USD"


def test_reps_who_joined_or_left_mid_period_are_listed_and_others_are_not(manager):
    team = TeamFactory(name="North", manager=manager)
    other = TeamFactory(name="Elsewhere")
    add_rep(team, joined_on=D(2025, 9, 20), first_name="Late", last_name="Joiner")
    leaver = add_rep(team, joined_on=D(2025, 1, 1), first_name="Early", last_name="Leaver")
    join_team(leaver, other, D(2025, 9, 10))  # left North on 09-09
    gone = add_rep(team, joined_on=D(2025, 1, 1), first_name="Long", last_name="Gone")
    join_team(gone, other, D(2025, 8, 15))  # left before September
    add_rep(team, joined_on=D(2025, 10, 1), first_name="Not", last_name="Yet")
    record_deal(rep=leaver, amount="100", closed_on=D(2025, 9, 5), external_ref="L1")
    record_deal(rep=leaver, amount="900", closed_on=D(2025, 9, 12), external_ref="L2")  # Elsewhere

    report = build_report(manager, SEPT)

    lines = lines_by_name(report.teams[0])
    assert set(lines) == {"Early Leaver", "Late Joiner"}
    assert lines["Late Joiner"] == Figures()  # no deals: zeros
    assert lines["Early Leaver"].deals == 1
    assert lines["Early Leaver"].sales == Decimal("100.00")


def test_several_teams_and_a_grand_total(manager):
    north = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    south = TeamFactory(name="South", manager=manager, commission_rate=Decimal("5"))
    foreign = TeamFactory(name="Foreign")  # someone else's team
    record_deal(rep=add_rep(north), amount="100", closed_on=D(2025, 9, 2), external_ref="N")
    record_deal(rep=add_rep(south), amount="300", closed_on=D(2025, 9, 3), external_ref="S")
    record_deal(rep=add_rep(foreign), amount="999", closed_on=D(2025, 9, 3), external_ref="F")

    report = build_report(manager, SEPT)

    assert [section.name for section in report.teams] == ["North", "South"]
    assert [section.totals.commission for section in report.teams] == [
        Decimal("10.00"),
        Decimal("15.00"),
    ]
    assert report.totals.commission == Decimal("25.00")
    assert report.totals.sales == Decimal("400.00")
    assert report.totals.deals == 2


def test_an_empty_period_gives_zero_lines_and_zero_totals(manager):
    team = TeamFactory(name="Quiet", manager=manager)
    add_rep(team, first_name="Idle", last_name="Rep")

    report = build_report(manager, SEPT)

    assert lines_by_name(report.teams[0]) == {"Idle Rep": Figures()}
    assert report.totals == Figures()
    text = render_text(report)
    assert "Idle Rep" in text
    assert "Total commission: 0.00 USD\n  on 0 deals worth 0.00 USD" in text


@pytest.mark.parametrize("team_size", [2, 40])
def test_query_count_does_not_grow_with_the_team(manager, team_size, django_assert_max_num_queries):
    team = TeamFactory(name="A big team", manager=manager)
    TeamFactory(name="B empty team", manager=manager)
    elsewhere = TeamFactory(name="C other team", manager=manager)
    for number in range(team_size):
        rep = add_rep(team)
        # The month, the month before, earlier in the year, and last year still pending.
        for day in (D(2025, 9, 1), D(2025, 8, 1), D(2025, 2, 1), D(2024, 12, 1)):
            record_deal(rep=rep, amount="10", closed_on=day, external_ref=f"Q{number}-{day}")
    mover = add_rep(team, joined_on=D(2025, 1, 1))
    record_deal(rep=mover, amount="10", closed_on=D(2025, 3, 1), external_ref="M1")
    join_team(mover, elsewhere, D(2025, 6, 1))
    record_deal(rep=mover, amount="10", closed_on=D(2025, 9, 2), external_ref="M2")

    # The whole report: its numbers, and every rendering of them.
    with django_assert_max_num_queries(3):
        report = build_report(manager, SEPT)
        report_subject(report), render_text(report), render_html(report), render_csv(report)

    big = report.teams[0]
    assert len(big.lines) == team_size + 1  # the mover still counts in its year to date
    assert big.totals.deals == team_size
    assert big.context.year_to_date == Decimal("3.00") * team_size + Decimal("1.00")
    assert report.context.year_to_date == Decimal("3.00") * team_size + Decimal("2.00")
    # The trend (Oct 2024 to Sep 2025) and the month's deals came in the same queries.
    one_each = Decimal("1.00") * team_size
    assert big.trend == (
        *(ZERO, ZERO, one_each, ZERO, one_each, Decimal("1.00")),
        *(ZERO, ZERO, ZERO, ZERO, one_each, one_each),
    )
    assert len(report.deals) == team_size + 1


def test_report_serialises_to_json_safe_data(manager):
    team = TeamFactory(name="North", manager=manager)
    record_deal(rep=add_rep(team), amount="10", closed_on=D(2025, 9, 1), external_ref="J")

    data = build_report(manager, SEPT).as_dict()

    assert data["period"] == "2025-09"
    assert data["totals"]["commission"] == "1.00"
    assert data["teams"][0]["lines"][0]["figures"]["sales"] == "10.00"


def test_the_month_in_progress_counts_deals_up_to_its_as_of_day(manager, monkeypatch):
    """A month-to-date report runs to today: a deal closed that day counts, one dated
    later (written before record_deal refused future dates) only once its day has come,
    in the month's figures, the year to date and what awaits approval alike. The
    previous month is compared whole, as the report says."""
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    add_rep(team, joined_on=D(2025, 9, 20), first_name="Not", last_name="Yet")
    deals = [
        ("2025-08-20", "3000", Commission.Status.PAID),  # the previous month
        ("2025-09-01", "1000", Commission.Status.APPROVED),
        ("2025-09-07", "200", Commission.Status.PENDING),  # the as-of day: counts
        ("2025-09-08", "400", Commission.Status.PENDING),  # the day after: not yet
        ("2025-09-30", "800", Commission.Status.APPROVED),
    ]
    for day, amount, status in deals:
        # As the data was before: a closing date after the day it was recorded.
        record_deal(
            rep=ann,
            amount=amount,
            closed_on=D.fromisoformat(day),
            external_ref=day,
            status=status,
            today=D(2025, 12, 31),
        )

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: D(2025, 9, 7))
    to_date = build_report(manager, SEPT)

    assert to_date.as_of == D(2025, 9, 7)
    (line,) = to_date.teams[0].lines  # Not Yet joins after the as-of day
    assert line.figures == Figures(
        deals=2,
        sales=Decimal("1200.00"),
        commission=Decimal("120.00"),
        pending=Decimal("20.00"),
        approved=Decimal("100.00"),
    )
    assert (line.context.previous, line.context.change) == (Decimal("300.00"), Decimal("-180.00"))
    assert line.context.year_to_date == Decimal("420.00")
    assert line.context.awaiting_approval == Decimal("20.00")
    assert (to_date.totals, to_date.context) == (line.figures, line.context)
    assert "period 2025-09-01 to 2025-09-07." in render_text(to_date)

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: D(2025, 10, 1))
    final = build_report(manager, SEPT)

    assert final.as_of is None
    assert set(lines_by_name(final.teams[0])) == {"Ann Lee", "Not Yet"}
    assert final.totals == Figures(
        deals=4,
        sales=Decimal("2400.00"),
        commission=Decimal("240.00"),
        pending=Decimal("60.00"),
        approved=Decimal("180.00"),
    )
    assert final.context.year_to_date == Decimal("540.00")
    assert final.context.awaiting_approval == Decimal("60.00")


def test_sums_are_exact_at_the_largest_amount_a_deal_holds(manager):
    """Eleven deals of 999,999,999,999.99 (the most models.MONEY holds) add up to the
    cent, on SQLite too, whose float sum said 10,999,999,999,999.90."""
    largest = "999999999999.99"
    assert Deal._meta.get_field("amount").max_digits == len(largest) - 1
    team = TeamFactory(name="Big", manager=manager, commission_rate=Decimal("100"))
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    for number in range(11):
        record_deal(
            rep=rep, amount=largest, closed_on=D(2025, 9, 1 + number), external_ref=f"B{number}"
        )

    report = build_report(manager, SEPT)

    exact = Decimal("10999999999999.89")
    (line,) = report.teams[0].lines
    assert line.figures == Figures(deals=11, sales=exact, commission=exact, pending=exact)
    assert report.teams[0].totals == report.totals == line.figures
    assert line.context.year_to_date == line.context.awaiting_approval == exact
    assert line.context.change == exact
    assert (
        f"2025-09,Big,Ann Lee,11,{exact},{exact},{exact},0.00,0.00,USD,{exact},{exact},{exact}"
        in render_csv(report).splitlines()
    )
    assert "worth 10,999,999,999,999.89 USD" in render_text(report)
    assert report.trend[-1] == exact
    assert sum(deal.commission for deal in report.deals) == exact
