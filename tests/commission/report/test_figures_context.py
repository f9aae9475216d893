"""The month in context: against the previous month, the year to date, and the
commission still waiting for approval, per rep and per team."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.commission.models import Commission
from apps.commission.periods import Period
from apps.commission.report.figures import Context, build_report
from apps.commission.services import join_team, record_deal
from tests.factories import TeamFactory, add_rep

pytestmark = pytest.mark.django_db

D = dt.date
SEPT = Period(2025, 9)
APPROVED = Commission.Status.APPROVED
PAID = Commission.Status.PAID


def line_of(section, name):
    (line,) = [line for line in section.lines if line.name == name]
    return line


def test_change_against_the_previous_month_and_the_year_to_date(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    deals = [
        ("2024-12-20", "7000", PAID),  # last year: neither the year to date nor pending
        ("2025-01-01", "100", PAID),  # 1 January counts in the year to date
        ("2025-08-31", "3000", APPROVED),  # the previous month
        ("2025-09-01", "1000", APPROVED),
        ("2025-09-30", "500", APPROVED),
        ("2025-10-01", "9000", APPROVED),  # after the period: nowhere
    ]
    for number, (day, amount, status) in enumerate(deals):
        record_deal(
            rep=ann,
            amount=amount,
            closed_on=D.fromisoformat(day),
            external_ref=f"A{number}",
            status=status,
        )

    report = build_report(manager, SEPT)

    (section,) = report.teams
    assert line_of(section, "Ann Lee").context == Context(
        previous=Decimal("300.00"),
        change=Decimal("-150.00"),  # 150.00 in September against 300.00 in August
        year_to_date=Decimal("460.00"),  # 10.00 + 300.00 + 150.00
        awaiting_approval=Decimal("0.00"),
    )
    assert section.context == report.context == line_of(section, "Ann Lee").context


def test_january_compares_with_december_and_starts_a_new_year(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    record_deal(rep=ann, amount="2000", closed_on=D(2024, 12, 31), external_ref="D", status=PAID)
    record_deal(rep=ann, amount="500", closed_on=D(2025, 1, 2), external_ref="J", status=PAID)

    context = build_report(manager, Period(2025, 1)).context

    assert context.previous == Decimal("200.00")
    assert context.change == Decimal("-150.00")
    assert context.year_to_date == Decimal("50.00")


def test_awaiting_approval_is_every_pending_commission_up_to_the_end_of_the_period(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    record_deal(rep=ann, amount="1000", closed_on=D(2023, 5, 5), external_ref="old")  # pending
    record_deal(rep=ann, amount="200", closed_on=D(2025, 9, 9), external_ref="now")  # pending
    record_deal(rep=ann, amount="400", closed_on=D(2025, 7, 7), external_ref="ok", status=APPROVED)
    record_deal(rep=ann, amount="800", closed_on=D(2025, 10, 1), external_ref="later")  # pending

    line = line_of(build_report(manager, SEPT).teams[0], "Ann Lee")

    assert line.figures.pending == Decimal("20.00")  # the month's own, as before
    assert line.context.awaiting_approval == Decimal("120.00")  # 100.00 from 2023 + 20.00


def test_a_rep_who_moved_teams_is_split_by_membership_dates_in_the_year_to_date(manager):
    """Ann was in North until 31 May, in South from 1 June, then in a team of another
    manager from 1 September: each team's year to date holds the deals she closed
    while she was its member, whichever team she is in when the report is made."""
    north = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    south = TeamFactory(name="South", manager=manager, commission_rate=Decimal("5"))
    foreign = TeamFactory(name="Foreign", commission_rate=Decimal("20"))
    ann = add_rep(north, joined_on=D(2025, 1, 1), first_name="Ann", last_name="Lee")
    bob = add_rep(north, joined_on=D(2025, 1, 1), first_name="Bob", last_name="Ray")
    record_deal(rep=ann, amount="1000", closed_on=D(2025, 2, 10), external_ref="N1", status=PAID)
    record_deal(rep=ann, amount="1000", closed_on=D(2025, 5, 31), external_ref="N2", status=PAID)
    join_team(ann, south, D(2025, 6, 1))
    record_deal(rep=ann, amount="1000", closed_on=D(2025, 6, 1), external_ref="S1", status=PAID)
    record_deal(rep=ann, amount="2000", closed_on=D(2025, 8, 20), external_ref="S2", status=PAID)
    join_team(ann, foreign, D(2025, 9, 1))
    record_deal(rep=ann, amount="9000", closed_on=D(2025, 9, 3), external_ref="F1", status=PAID)
    record_deal(rep=bob, amount="500", closed_on=D(2025, 9, 4), external_ref="B1", status=PAID)

    report = build_report(manager, SEPT)

    north_section, south_section = report.teams
    # North: Ann left in May but her two North deals stay North's (at North's 10%).
    assert line_of(north_section, "Ann Lee").context.year_to_date == Decimal("200.00")
    assert line_of(north_section, "Bob Ray").context.year_to_date == Decimal("50.00")
    assert north_section.context.year_to_date == Decimal("250.00")
    # South: June and August, at South's 5%; her foreign September deal is nobody's here.
    ann_south = line_of(south_section, "Ann Lee")
    assert ann_south.context.year_to_date == Decimal("150.00")
    assert ann_south.context.previous == Decimal("100.00")
    assert ann_south.figures.commission == Decimal("0.00")
    assert ann_south.context.change == Decimal("-100.00")
    assert south_section.context.year_to_date == Decimal("150.00")
    assert report.context.year_to_date == Decimal("400.00")


def test_the_context_is_json_safe_in_the_stored_snapshot(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    record_deal(rep=add_rep(team), amount="10", closed_on=D(2025, 8, 1), external_ref="J")

    data = build_report(manager, SEPT).as_dict()

    assert data["context"] == {
        "previous": "1.00",
        "change": "-1.00",
        "year_to_date": "1.00",
        "awaiting_approval": "1.00",
        "awaiting_approval_count": 1,
    }
    assert data["teams"][0]["lines"][0]["context"]["change"] == "-1.00"
    assert data["language"] == "en"
