"""The report rendered (apps.commission.report.render): the subject, the text and the HTML
(the month's answer first, then each rep), and the two CSVs, with the same numbers in each."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import translation

from apps.commission.models import Commission, Team
from apps.commission.periods import Period, default_period
from apps.commission.report.figures import build_report
from apps.commission.report.render import (
    TEXT_WIDTH,
    render_csv,
    render_deals_csv,
    render_html,
    render_text,
    report_attachments,
    report_subject,
)
from apps.commission.services import join_team, record_deal
from tests.factories import TeamFactory, UserFactory, add_rep

pytestmark = pytest.mark.django_db

D = dt.date
SEPT = Period(2025, 9)
PAID, APPROVED = Commission.Status.PAID, Commission.Status.APPROVED
LONG_NAME = ("Maximiliana Alexandrovna", "Konstantinopolskaya-Vasilievskaya")


def money(text: str) -> Decimal:
    """'1,234.50' or '+1,234.50' as a Decimal."""
    return Decimal(text.replace(",", "").replace("+", ""))


class Classes(HTMLParser):
    """The text of every element by its class names."""

    def __init__(self):
        super().__init__()
        self.texts: dict[str, list[str]] = {}
        self.open: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "meta"):
            return
        classes = (dict(attrs).get("class") or "").split()
        self.open.append(classes)
        for name in classes:
            self.texts.setdefault(name, []).append("")

    def handle_endtag(self, tag):
        if tag not in ("br", "meta") and self.open:
            self.open.pop()

    def handle_data(self, data):
        for classes in self.open:
            for name in classes:
                self.texts[name][-1] += data


def texts(html: str, name: str) -> list[str]:
    parser = Classes()
    parser.feed(html)
    return [" ".join(text.split()) for text in parser.texts.get(name, [])]


@pytest.fixture
def two_teams(manager):
    """North: Ann (a year of deals) and Bob; South: Cy, who moved there from North."""
    north = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    south = TeamFactory(name="South", manager=manager, commission_rate=Decimal("5"))
    ann = add_rep(north, first_name="Ann", last_name="Lee", joined_on=D(2024, 1, 1))
    bob = add_rep(north, first_name="Bob", last_name="Ray", joined_on=D(2024, 1, 1))
    cy = add_rep(north, first_name="Cy", last_name="Young", joined_on=D(2024, 1, 1))
    for month in Period(2025, 9).trailing(14):
        record_deal(
            rep=ann, amount="1000", closed_on=month.start, external_ref=f"A-{month}", status=PAID
        )
    record_deal(rep=ann, amount="2500.50", closed_on=D(2025, 9, 20), external_ref="A-2")
    record_deal(rep=bob, amount="300", closed_on=D(2025, 9, 3), external_ref="B-1", status=APPROVED)
    record_deal(rep=cy, amount="700", closed_on=D(2025, 8, 10), external_ref="C-0")
    join_team(cy, south, D(2025, 9, 1))
    record_deal(rep=cy, amount="900", closed_on=D(2025, 9, 2), external_ref="C-1")
    return manager


# THE MONTH'S ANSWER FIRST
# ------------------------------------------------------------------------------


def test_the_text_opens_with_the_answer_then_the_trend_then_each_rep(two_teams):
    text = render_text(build_report(two_teams, SEPT))

    lines = text.splitlines()
    assert lines[:3] == [
        "Commission report for September 2025 (2025-09)",
        "Manager: Maria Ivanova",
        "Amounts in USD; period 2025-09-01 to 2025-09-30.",
    ]
    # 100 + 250.05 + 30 (North) and 45 (South); August: 100 + 70.
    # Year to date: Ann's nine 2025 months and September's, Bob's, Cy's two.
    assert lines[4:9] == [
        "Total commission: 425.05 USD",
        "  on 4 deals worth 4,700.50 USD",
        "  Year to date 1,295.05",
        "▲ Up 255.05 USD (+150.0%) on the previous month (August 2025)",
        "Awaiting approval: 365.05 USD in 3 commissions.",
    ]
    assert lines[10:13] == ["By team", "- North: 380.05 USD", "- South: 45.00 USD"]
    order = [text.index(part) for part in ("By team", "Commission by month", "Team: North")]
    assert order == sorted(order)
    assert re.search(r"^Sep 2025  425\.05  █{20}$", text, re.MULTILINE)
    assert re.search(r"^Aug 2025  170\.00  █{8}$", text, re.MULTILINE)
    assert "Ann Lee: 350.05" in lines
    assert "Team total: 380.05" in lines
    # Cy's August deal stays North's: he shows there, with its change.
    assert "Cy Young: 0.00" in lines


@pytest.mark.parametrize("change", ["down", "same"])
def test_the_change_says_its_direction_in_words_and_an_arrow(manager, change):
    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    ann = add_rep(team, first_name="Ann", last_name="Lee", joined_on=D(2025, 1, 1))
    record_deal(rep=ann, amount="1000", closed_on=D(2025, 8, 1), external_ref="A-8")
    september = "400" if change == "down" else "1000"
    record_deal(rep=ann, amount=september, closed_on=D(2025, 9, 1), external_ref="A-9")

    report = build_report(manager, SEPT)
    text, html = render_text(report), render_html(report)

    expected = {
        "down": "▼ Down 60.00 USD (-60.0%) on the previous month (August 2025)",
        "same": "= No change on the previous month (August 2025)",
    }[change]
    assert expected in text.splitlines()
    assert texts(html, f"change-{change}") == [expected]


def test_the_summary_figures_are_the_sums_of_the_detail(two_teams):
    report = build_report(two_teams, SEPT)
    html = render_html(report)

    reps = [money(amount) for amount in texts(html, "rep-commission")]
    team_totals = [money(amount.removesuffix(" USD")) for amount in texts(html, "team-amount")]
    # North has three reps and a total line; South one rep and no total line.
    rep_lines, north_total, south = reps[:3], reps[3], reps[4:]
    assert sum(rep_lines) == north_total == team_totals[0]
    assert sum(south) == team_totals[1]
    (total,) = texts(html, "total")
    assert money(total.removesuffix(" USD")) == sum(team_totals) == report.totals.commission
    assert money(texts(html, "trend-amount")[-1]) == report.totals.commission
    # Every figure of the detail is the sum of its reps' too.
    for section in report.teams:
        for figure in ("deals", "sales", "pending", "approved", "paid"):
            assert getattr(section.totals, figure) == sum(
                getattr(line.figures, figure) for line in section.lines
            )
    assert report.trend == tuple(
        sum(amounts) for amounts in zip(*(section.trend for section in report.teams), strict=True)
    )


def test_the_trend_runs_twelve_months_to_the_report_s_month(two_teams):
    report = build_report(two_teams, SEPT)

    assert [str(month) for month in report.trend_months] == [
        "2024-10", "2024-11", "2024-12", "2025-01", "2025-02", "2025-03",
        "2025-04", "2025-05", "2025-06", "2025-07", "2025-08", "2025-09",
    ]  # fmt: skip
    north, south = report.teams
    assert north.trend == (Decimal("100.00"),) * 10 + (Decimal("170.00"), Decimal("380.05"))
    assert south.trend == (Decimal("0.00"),) * 11 + (Decimal("45.00"),)


# READABLE WHERE IT IS READ
# ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru"])
def test_no_line_of_the_text_is_wider_than_a_phone_reads(manager, language, settings):
    settings.COMMISSION_CURRENCY = "RUB"
    manager.language = language
    manager.save()
    team = TeamFactory(name="A team with a rather long name, as sales teams have", manager=manager)
    for number in range(3):
        rep = add_rep(team, first_name=LONG_NAME[0], last_name=f"{LONG_NAME[1]}-{number}")
        record_deal(
            rep=rep, amount="987654321.99", closed_on=D(2025, 9, 2), external_ref=f"L-{number}"
        )

    text = render_text(build_report(manager, SEPT))

    wide = [line for line in text.splitlines() if len(line) > TEXT_WIDTH]
    assert not wide
    assert f"{LONG_NAME[0]} {LONG_NAME[1]}-0" in text.replace("\n", " ")


def test_the_html_is_one_inline_styled_column_with_nothing_to_fetch_or_run(two_teams):
    html = render_html(build_report(two_teams, SEPT))

    assert "max-width: 600px" in html
    assert re.search(r'<p class="total" style="[^"]*font-size: 28px', html)
    # Only the rules no inline style can carry stay in <style>: dark mode, narrow screens.
    (style,) = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style.strip().startswith("@media") and "prefers-color-scheme: dark" in style
    for forbidden in ("<script", "<img", "<link", "url(", "http:", "https:", "@import"):
        assert forbidden not in html.lower()


def test_html_escapes_names(manager):
    team = TeamFactory(name="<North & Co>", manager=manager, commission_rate=Decimal("10"))
    add_rep(team, first_name="<b>Ann</b>", last_name="Lee")

    html = render_html(build_report(manager, SEPT))

    assert "&lt;North &amp; Co&gt;" in html and "<North" not in html
    assert "&lt;b&gt;Ann&lt;/b&gt; Lee" in html


def test_an_empty_team_says_so_and_a_team_of_one_has_no_total_line():
    manager = UserFactory(username="two-teams")
    full = TeamFactory(name="Alpha", manager=manager)
    add_rep(full, first_name="Ann", last_name="Lee")
    TeamFactory(name="Empty", manager=manager)

    report = build_report(manager, default_period())
    text, html = render_text(report), render_html(report)

    lines = text.splitlines()
    empty = lines.index("Team: Empty (0.00 USD)")
    assert lines[empty + 2] == "(no reps in this team during the period)"
    assert "Team total" not in text and "Team total" not in html
    assert texts(html, "team-name") == ["Alpha", "Empty"]
    assert "Awaiting approval: nothing." in lines


# THE ATTACHMENTS
# ------------------------------------------------------------------------------


def test_the_per_rep_csv_keeps_its_columns(manager):
    team = TeamFactory(name="<North & Co>", manager=manager, commission_rate=Decimal("10"))
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    record_deal(rep=rep, amount="1000", closed_on=D(2025, 9, 1), external_ref="H1")

    csv_text = render_csv(build_report(manager, SEPT))

    assert csv_text.splitlines() == [
        "Period,Team,Rep,Deals,Sales,Commission,Pending,Approved,Paid,Currency,"
        "Change,Year to date,All pending",
        "2025-09,<North & Co>,Ann Lee,1,1000.00,100.00,100.00,0.00,0.00,USD,100.00,100.00,100.00",
    ]


def test_the_deal_csv_has_every_deal_of_the_month_and_sums_to_the_total(two_teams):
    report = build_report(two_teams, SEPT)

    rows = list(csv.reader(io.StringIO(render_deals_csv(report))))

    assert rows == [
        ["Deal", "Closed on", "Rep", "Team", "Amount", "Commission", "Status", "Currency"],
        ["A-2025-09", "2025-09-01", "Ann Lee", "North", "1000.00", "100.00", "paid", "USD"],
        ["A-2", "2025-09-20", "Ann Lee", "North", "2500.50", "250.05", "pending", "USD"],
        ["B-1", "2025-09-03", "Bob Ray", "North", "300.00", "30.00", "approved", "USD"],
        ["C-1", "2025-09-02", "Cy Young", "South", "900.00", "45.00", "pending", "USD"],
    ]
    assert sum(Decimal(row[5]) for row in rows[1:]) == report.totals.commission
    assert sum(Decimal(row[4]) for row in rows[1:]) == report.totals.sales


def test_the_deal_csv_counts_only_to_the_day_of_a_month_in_progress(manager, monkeypatch):
    from django.utils import timezone

    team = TeamFactory(name="North", manager=manager, commission_rate=Decimal("10"))
    rep = add_rep(team, first_name="Ann", last_name="Lee", joined_on=D(2025, 1, 1))
    record_deal(rep=rep, amount="100", closed_on=D(2025, 9, 2), external_ref="EARLY")
    record_deal(rep=rep, amount="100", closed_on=D(2025, 9, 20), external_ref="LATER")
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: D(2025, 9, 10))

    report = build_report(manager, SEPT)

    assert [deal.reference for deal in report.deals] == ["EARLY"]
    assert report.trend[-1] == report.totals.commission == Decimal("10.00")


def test_csv_cells_cannot_carry_formulas_and_numbers_stay_numbers():
    team = TeamFactory(name='=HYPERLINK("http://evil","x")')
    period = default_period()
    reps = [
        add_rep(team, first_name=name, last_name="")
        for name in ("+1 rep", "-2 rep", "@sum", "\tTab", "\rCR", "Ann")
    ]
    record_deal(rep=reps[-1], amount="1000.00", closed_on=period.start, external_ref="=csv-1")

    report = build_report(team.manager, period)
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    deals = list(csv.reader(io.StringIO(render_deals_csv(report))))

    names = {row[2] for row in rows[1:]}
    assert {row[1] for row in rows[1:]} == {'\'=HYPERLINK("http://evil","x")'}
    assert {"'+1 rep", "'-2 rep", "'@sum", "Ann"} <= names
    assert not any(name[0] in "=+-@\t\r" for name in names)
    ann = next(row for row in rows if row[2] == "Ann")
    assert ann[3:5] == ["1", "1000.00"]
    assert deals[1][:4] == ["'=csv-1", period.start.isoformat(), "Ann", f"'{team.name}"]
    assert deals[1][4:6] == ["1000.00", "100.00"]


def test_the_email_carries_both_csvs_by_name(two_teams):
    report = build_report(two_teams, SEPT)

    attachments = report_attachments(report)

    assert [(item["filename"], item["mimetype"]) for item in attachments] == [
        ("commission-report-2025-09.csv", "text/csv"),
        ("commission-deals-2025-09.csv", "text/csv"),
    ]
    assert attachments[1]["content"] == render_deals_csv(report)
    with translation.override("en"):
        assert "commission-deals-2025-09.csv, one row per deal" in " ".join(
            render_text(report).split()
        )


def test_a_name_stored_before_the_check_still_reaches_the_report_as_one_plain_line():
    team = TeamFactory()
    Team.objects.filter(pk=team.pk).update(name="Evil\r\nBcc: x@example.com\u202e")
    add_rep(team, first_name="Bob\nRay", last_name="")

    report = build_report(team.manager, default_period())

    assert "\n" not in report_subject(report) and "\u202e" not in report_subject(report)
    assert report.teams[0].lines[0].name == "Bob Ray"
