"""The report rendered (apps.commission.report.render): the subject, the text with its
aligned columns, the HTML alternative and the CSV, with the same numbers in each."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from apps.commission.models import Team
from apps.commission.periods import Period, default_period
from apps.commission.report.figures import build_report
from apps.commission.report.render import render_csv, render_html, render_text, report_subject
from apps.commission.services import record_deal
from tests.factories import TeamFactory, UserFactory, add_rep

pytestmark = pytest.mark.django_db

D = dt.date
SEPT = Period(2025, 9)


def test_text_rendering_aligns_columns_and_names_period_and_teams(manager):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    add_rep(team, first_name="Bartholomew", last_name="Longname")
    record_deal(rep=ann, amount="123456.78", closed_on=D(2025, 9, 1), external_ref="T1")

    report = build_report(manager, SEPT)
    text = render_text(report)

    assert report_subject(report) == "Commission report 2025-09: North"
    assert text.startswith("Commission report for September 2025 (2025-09)\nManager: Maria Ivanova")
    assert "Amounts in USD" in text
    table = text.split("Team: North\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header, rule, ann_line, bart_line, _, total_line = table
    assert set(rule) == {"-", " "}
    assert re.split(r"\s{2,}", header) == [
        "Rep",
        "Deals",
        "Sales",
        "Commission",
        "Pending",
        "Approved",
        "Paid",
        "Change",
        "Year to date",
        "All pending",
    ]
    assert ann_line.split()[2:5] == ["1", "123,456.78", "12,345.68"]
    # Every numeric column ends at the same position on every line.
    ends = {len(line) for line in (header, ann_line, bart_line, total_line)}
    assert len(ends) == 1, table
    assert total_line.startswith("Team total")


def test_html_alternative_and_csv_carry_the_same_numbers(manager):
    team = TeamFactory(name="<North & Co>", manager=manager, commission_rate=Decimal("10"))
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    record_deal(rep=rep, amount="1000", closed_on=D(2025, 9, 1), external_ref="H1")

    report = build_report(manager, SEPT)
    html = render_html(report)
    csv_text = render_csv(report)

    assert "&lt;North &amp; Co&gt;" in html  # escaped
    assert '<td style="text-align: right;">1,000.00</td>' in html
    assert csv_text.splitlines() == [
        "Period,Team,Rep,Deals,Sales,Commission,Pending,Approved,Paid,Currency,"
        "Change,Year to date,All pending",
        "2025-09,<North & Co>,Ann Lee,1,1000.00,100.00,100.00,0.00,0.00,USD,100.00,100.00,100.00",
    ]


def test_csv_cells_cannot_carry_formulas_and_numbers_stay_numbers():
    team = TeamFactory(name='=HYPERLINK("http://evil","x")')
    period = default_period()
    reps = [
        add_rep(team, first_name=name, last_name="")
        for name in ("+1 rep", "-2 rep", "@sum", "\tTab", "\rCR", "Ann")
    ]
    record_deal(rep=reps[-1], amount="1000.00", closed_on=period.start, external_ref="csv-1")

    rows = list(csv.reader(io.StringIO(render_csv(build_report(team.manager, period)))))

    names = {row[2] for row in rows[1:]}
    assert {row[1] for row in rows[1:]} == {'\'=HYPERLINK("http://evil","x")'}
    assert {"'+1 rep", "'-2 rep", "'@sum", "Ann"} <= names
    assert not any(name[0] in "=+-@\t\r" for name in names)
    ann = next(row for row in rows if row[2] == "Ann")
    assert ann[3:5] == ["1", "1000.00"]


def test_a_name_stored_before_the_check_still_reaches_the_report_as_one_plain_line():
    team = TeamFactory()
    Team.objects.filter(pk=team.pk).update(name="Evil\r\nBcc: x@example.com\u202e")
    add_rep(team, first_name="Bob\nRay", last_name="")

    report = build_report(team.manager, default_period())

    assert "\n" not in report_subject(report) and "\u202e" not in report_subject(report)
    assert report.teams[0].lines[0].name == "Bob Ray"


def test_an_empty_team_reads_header_then_note_and_html_has_the_all_teams_table():
    manager = UserFactory(username="two-teams")
    full = TeamFactory(name="Alpha", manager=manager)
    add_rep(full, first_name="Ann", last_name="Lee")
    TeamFactory(name="Empty", manager=manager)

    report = build_report(manager, default_period())
    text = render_text(report)
    html = render_html(report)

    lines = text.splitlines()
    empty = lines.index("Team: Empty")
    assert lines[empty + 1] == "(no reps in this team during the period)"
    assert lines[empty + 2] == ""  # no table, no rules, for a team without reps
    assert lines.count("Team: Alpha") == 1
    assert "All teams (2)" in text and "All teams (2)" in html
    # The HTML's all-teams table is headed by "Team", one row per team, then the total.
    all_teams = html[html.index("All teams (2)") :]
    assert ">Team</th>" in all_teams and ">Rep</th>" not in all_teams
    assert all_teams.index(">Alpha</td>") < all_teams.index(">Empty</td>")
    assert all_teams.index(">Empty</td>") < all_teams.index(">Grand total</th>")
