"""The report rendered (apps.commission.report.render): the subject, the text with its
aligned columns, the HTML alternative and the CSV, with the same numbers in each."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from apps.commission.periods import Period
from apps.commission.report.figures import build_report
from apps.commission.report.render import render_csv, render_html, render_text, report_subject
from apps.commission.services import record_deal
from tests.factories import TeamFactory, add_rep

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
