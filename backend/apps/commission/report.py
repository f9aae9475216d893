"""A manager's commission report: who asks for it, the numbers, and how they read.

Plain Python and the ORM, no Celery: the tasks call these functions.
"""

import csv
import datetime as dt
import io
import re
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string

from core.validators import parse_id, plain_text

from .models import Commission, Deal, Team, TeamMembership
from .money import ZERO, format_money, to_money
from .periods import InvalidPeriod, Period, month_to_date, parse_period


class ReportRequestError(ValueError):
    """A report that cannot be made from what was asked; retrying will not help."""


# What an operator's "another copy" key may be: it becomes part of the delivery's key.
RESEND_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def load_report_request(
    user_id, period: str | None, resend_key: str | None = None
) -> tuple["object", Period]:
    """Check who the report is for and which month; return (manager, period).

    Raises ReportRequestError with a message an operator can act on.
    """
    try:
        period_ = parse_period(period)
    except InvalidPeriod as exc:
        raise ReportRequestError(str(exc)) from exc
    if resend_key is not None and not (
        isinstance(resend_key, str) and RESEND_KEY.fullmatch(resend_key)
    ):
        raise ReportRequestError(
            f"resend key must be 1 to 64 letters, digits, '-' or '_', got {resend_key!r}"
        )
    manager_id = parse_id(user_id)
    if manager_id is None:
        raise ReportRequestError(f"user id must be a whole number, got {user_id!r}")
    manager = get_user_model().objects.filter(pk=manager_id).first()
    if manager is None:
        raise ReportRequestError(f"no user with id {user_id}")
    if not Team.objects.filter(manager=manager).exists():
        raise ReportRequestError(f"user {manager.username} (id {manager.pk}) manages no team")
    if not manager.email:
        raise ReportRequestError(
            f"manager {manager.username} (id {manager.pk}) has no email address"
        )
    return manager, period_


@dataclass(frozen=True)
class Figures:
    """A rep's, a team's or all teams' numbers for the period."""

    deals: int = 0
    sales: Decimal = ZERO
    commission: Decimal = ZERO
    pending: Decimal = ZERO
    approved: Decimal = ZERO
    paid: Decimal = ZERO

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class RepLine:
    rep_id: int
    name: str
    figures: Figures


@dataclass(frozen=True)
class TeamSection:
    team_id: int
    name: str
    lines: tuple[RepLine, ...]
    totals: Figures


@dataclass(frozen=True)
class Report:
    manager_id: int
    manager_name: str
    period: Period
    currency: str
    teams: tuple[TeamSection, ...]
    totals: Figures = field(default_factory=Figures)
    # Set for the month in progress: the figures run to this day and are not final.
    as_of: dt.date | None = None

    @property
    def last_day(self) -> dt.date:
        return self.as_of or self.period.last_day

    @property
    def scope(self) -> str:
        """' (month to date, as of 2026-10-15)' for the month in progress, else ''."""
        return f" (month to date, as of {self.as_of.isoformat()})" if self.as_of else ""

    def as_dict(self) -> dict:
        """JSON-safe form (Decimals as strings) for storage."""
        data = asdict(self)
        data["period"] = str(self.period)
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return _json_safe(data)


MONEY_FIGURES = ("sales", "commission", "pending", "approved", "paid")


def _json_safe(value):
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _display_name(first_name: str, last_name: str, username: str) -> str:
    return plain_text(f"{first_name} {last_name}".strip() or username)


def build_report(manager, period: Period) -> Report:
    """The manager's teams for the period, one line per rep who was a member at
    any time in it (reps without deals show zeros).

    Three queries whatever the team sizes: teams, memberships, and one aggregate
    over the deals and their commissions.
    """
    teams = list(Team.objects.filter(manager=manager).order_by("name").values("id", "name"))
    team_ids = [team["id"] for team in teams]

    reps: dict[int, dict[int, str]] = {team_id: {} for team_id in team_ids}
    memberships = (
        TeamMembership.objects.filter(team_id__in=team_ids, joined_on__lt=period.end)
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=period.start))
        .values_list("team_id", "rep_id", "rep__first_name", "rep__last_name", "rep__username")
    )
    for team_id, rep_id, first, last, username in memberships:
        reps[team_id][rep_id] = _display_name(first, last, username)

    # Annotation names must not shadow the `commission` relation they sum over.
    status_sums = {
        f"sum_{status}": Sum("commission__amount", filter=Q(commission__status=status))
        for status in Commission.Status.values
    }
    rows = (
        Deal.objects.filter(
            team_id__in=team_ids, closed_on__gte=period.start, closed_on__lt=period.end
        )
        .order_by()
        .values("team_id", "rep_id", "rep__first_name", "rep__last_name", "rep__username")
        .annotate(
            sum_deals=Count("id"),
            sum_sales=Sum("amount"),
            sum_commission=Sum("commission__amount"),
            **status_sums,
        )
    )
    figures: dict[tuple[int, int], Figures] = {}
    for row in rows:
        # A deal booked to a team after the rep left still counts for that team.
        reps[row["team_id"]].setdefault(
            row["rep_id"],
            _display_name(row["rep__first_name"], row["rep__last_name"], row["rep__username"]),
        )
        figures[row["team_id"], row["rep_id"]] = Figures(
            deals=row["sum_deals"],
            # SQLite sums decimals as floats; cents are what we mean.
            **{name: to_money(row[f"sum_{name}"] or ZERO) for name in MONEY_FIGURES},
        )

    sections = []
    for team in teams:
        lines = tuple(
            sorted(
                (
                    RepLine(rep_id, name, figures.get((team["id"], rep_id), Figures()))
                    for rep_id, name in reps[team["id"]].items()
                ),
                key=lambda line: (line.name.casefold(), line.rep_id),
            )
        )
        totals = sum((line.figures for line in lines), Figures())
        sections.append(TeamSection(team["id"], plain_text(team["name"]), lines, totals))

    return Report(
        manager_id=manager.pk,
        manager_name=str(manager),
        period=period,
        currency=settings.COMMISSION_CURRENCY,
        teams=tuple(sections),
        totals=sum((section.totals for section in sections), Figures()),
        as_of=month_to_date(period),
    )


# Rendering
# ------------------------------------------------------------------------------

COLUMNS = ("Rep", "Deals", "Sales", "Commission", "Pending", "Approved", "Paid")
TEAM_COLUMNS = ("Team", *COLUMNS[1:])
NO_REPS = "(no reps in this team during the period)"


def _cells(label: str, figures: Figures) -> list[str]:
    return [
        label,
        str(figures.deals),
        *(format_money(getattr(figures, name)) for name in MONEY_FIGURES),
    ]


# The stored subject's column length: a long team name shortens the subject, never
# stops the report.
SUBJECT_MAX_LENGTH = 255


def report_subject(report: Report) -> str:
    team_names = ", ".join(section.name for section in report.teams)
    subject = f"Commission report {report.period}{report.scope}: {team_names}"
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"
    return subject


def _table(rows: list[list[str]], total_rows: int) -> list[str]:
    """Align columns: text left, numbers right; a rule above the totals."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(row) for row in rows]
    header, data = body[0], body[1:]
    split = len(data) - total_rows
    return [header, rule, *data[:split], rule, *data[split:]]


def render_text(report: Report) -> str:
    """The plain-text email body."""
    out = [
        f"Commission report for {report.period.label} ({report.period}){report.scope}",
        f"Manager: {report.manager_name}",
        f"Amounts in {report.currency}; period "
        f"{report.period.start.isoformat()} to {report.last_day.isoformat()}.",
        "",
    ]
    for section in report.teams:
        out.append(f"Team: {section.name}")
        if section.lines:
            rows = [list(COLUMNS)]
            rows += [_cells(line.name, line.figures) for line in section.lines]
            rows.append(_cells("Team total", section.totals))
            out += _table(rows, total_rows=1)
        else:
            out.append(NO_REPS)
        out.append("")
    if len(report.teams) > 1:
        out.append(f"All teams ({len(report.teams)})")
        out += _table(_all_teams_rows(report), total_rows=1)
        out.append("")
    out.append(
        f"Grand total commission: {format_money(report.totals.commission)} {report.currency} "
        f"on {report.totals.deals} deals worth {format_money(report.totals.sales)} "
        f"{report.currency}."
    )
    return "\n".join(out) + "\n"


def _all_teams_rows(report: Report) -> list[list[str]]:
    """Each team's totals and the grand total, under a header row."""
    rows = [list(TEAM_COLUMNS)]
    rows += [_cells(section.name, section.totals) for section in report.teams]
    rows.append(_cells("Grand total", report.totals))
    return rows


def render_html(report: Report) -> str:
    """The HTML alternative of the email body."""
    return render_to_string(
        "commission/report_email.html",
        {
            "report": report,
            "columns": COLUMNS,
            "teams": [
                {
                    "name": section.name,
                    "rows": [_cells(line.name, line.figures) for line in section.lines],
                    "total": _cells("Team total", section.totals),
                }
                for section in report.teams
            ],
            "no_reps": NO_REPS,
            "team_columns": TEAM_COLUMNS,
            # One row per team when there are several (as the text's "All teams"), then
            # the grand total.
            "all_teams": _all_teams_rows(report)[1:-1] if len(report.teams) > 1 else [],
            "grand_total": _cells("Grand total", report.totals),
        },
    )


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def render_csv(report: Report) -> str:
    """One row per rep and team, for spreadsheets. Names are neutralised against
    formulas; numbers stay numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Period", "Team", *COLUMNS, "Currency"])
    for section in report.teams:
        for line in section.lines:
            figures = line.figures
            writer.writerow(
                [
                    str(report.period),
                    _csv_text(section.name),
                    _csv_text(line.name),
                    figures.deals,
                    *(str(getattr(figures, name)) for name in MONEY_FIGURES),
                    report.currency,
                ]
            )
    return buffer.getvalue()
