"""The report's numbers: a few queries whatever the team sizes."""

import datetime as dt
import functools
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from apps.accounts.languages import preferred_language
from core.model_sql import Table
from core.validators import plain_text

from ..models import Commission, Deal, Team, TeamMembership
from ..money import ZERO, to_money
from ..periods import Period, month_to_date


class _Summable:
    """Totals add up field by field."""

    def __add__(self, other):
        return type(self)(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class Figures(_Summable):
    """A rep's, a team's or all teams' numbers for the period."""

    deals: int = 0
    sales: Decimal = ZERO
    commission: Decimal = ZERO
    pending: Decimal = ZERO
    approved: Decimal = ZERO
    paid: Decimal = ZERO


@dataclass(frozen=True)
class Context(_Summable):
    """The period's commission next to other times, for the same rep or team: the
    previous month, the year so far, and what still waits for approval."""

    # The whole previous calendar month's commission, and the period's minus it.
    previous: Decimal = ZERO
    change: Decimal = ZERO
    # From 1 January of the period's year to the report's last day.
    year_to_date: Decimal = ZERO
    # Earned up to the report's last day, in any month, and still pending; how many.
    awaiting_approval: Decimal = ZERO
    awaiting_approval_count: int = 0


@dataclass(frozen=True)
class RepLine:
    rep_id: int
    name: str
    figures: Figures
    context: Context = field(default_factory=Context)


class DealLine(NamedTuple):
    """One deal of the period behind the report's figures (a tuple: a report may have
    tens of thousands, and a frozen dataclass costs several times more to make)."""

    reference: str
    closed_on: dt.date
    rep_name: str
    team_name: str
    amount: Decimal
    # The deal's commission; a deal without one (none is recorded so) shows zero.
    commission: Decimal
    status: str


# The trend's months: the report's month and the eleven before it. The last two are
# the previous month's and the month's own sums; the query adds the earlier ones.
TREND_MONTHS = 12
EARLIER_TREND_MONTHS = TREND_MONTHS - 2
NO_TREND = (ZERO,) * TREND_MONTHS


def _add_trends(*trends: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
    return tuple(sum(amounts, ZERO) for amounts in zip(NO_TREND, *trends, strict=True))


@dataclass(frozen=True)
class TeamSection:
    team_id: int
    name: str
    lines: tuple[RepLine, ...]
    totals: Figures
    context: Context = field(default_factory=Context)
    # The team's commission month by month (Report.trend_months), the report's month
    # last: every deal booked to the team, by whichever rep.
    trend: tuple[Decimal, ...] = NO_TREND


@dataclass(frozen=True)
class Report:
    manager_id: int
    manager_name: str
    period: Period
    currency: str
    # What the manager reads (a code of settings.LANGUAGES); render uses it.
    language: str
    teams: tuple[TeamSection, ...]
    totals: Figures = field(default_factory=Figures)
    context: Context = field(default_factory=Context)
    # Set for the month in progress: the figures run to this day and are not final.
    as_of: dt.date | None = None
    trend: tuple[Decimal, ...] = NO_TREND
    # The period's deals, by team (as `teams`), rep, day and reference: the attachment
    # that traces every figure. Not stored with the numbers (as_dict): the email has them.
    deals: tuple[DealLine, ...] = ()

    @property
    def last_day(self) -> dt.date:
        return self.as_of or self.period.last_day

    @property
    def trend_months(self) -> tuple[Period, ...]:
        return self.period.trailing(TREND_MONTHS)

    def as_dict(self) -> dict:
        """JSON-safe form (Decimals as strings) for storage."""
        data = asdict(replace(self, deals=()))
        del data["deals"]
        data["period"] = str(self.period)
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return _json_safe(data)


MONEY_FIGURES = ("sales", "commission", "pending", "approved", "paid")
CONTEXT_FIGURES = ("change", "year_to_date", "awaiting_approval")


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


# A member without deals that count.
NOTHING = (Figures(), Context())

# Per team: its name, and its reps' display names by id.
Teams = dict[int, tuple[str, dict[int, str]]]
# Per (team, rep): the period's figures and their context.
Numbers = dict[tuple[int, int], tuple[Figures, Context]]


def build_report(manager, period: Period) -> Report:
    """The manager's teams for the period, one line per rep who was a member at
    any time in it (reps without deals show zeros), or whose deals for the team
    count in its context (the previous month, the year to date, still pending).

    Three queries whatever the team sizes: the teams with their members, one
    aggregate over the deals and their commissions (the period's, its context's and
    the 12-month trend), and the period's deals themselves.

    Everything counts up to the report's last day: the month's end, or today for the
    month in progress, so a deal dated later (recorded before `record_deal` refused
    future dates) counts once that day has come.
    """
    as_of = month_to_date(period)
    until = (as_of or period.last_day) + dt.timedelta(days=1)
    teams = _teams_and_members(manager.pk, period, until)
    numbers, trends = _numbers(manager.pk, period, until, teams)
    sections = tuple(
        _section(team_id, name, members, numbers, trends.get(team_id, NO_TREND))
        for team_id, (name, members) in teams.items()
    )
    return Report(
        manager_id=manager.pk,
        manager_name=str(manager),
        period=period,
        currency=settings.COMMISSION_CURRENCY,
        language=preferred_language(manager),
        teams=sections,
        totals=sum((section.totals for section in sections), Figures()),
        context=sum((section.context for section in sections), Context()),
        as_of=as_of,
        trend=_add_trends(*(section.trend for section in sections)),
        deals=_deal_lines(manager.pk, period, until, teams),
    )


def _teams_and_members(manager_id: int, period: Period, until: dt.date) -> Teams:
    """The manager's teams by name, each with the reps who were members in the period
    before `until` (exclusive)."""
    teams: Teams = {}
    sql = _statements(connection.alias).teams_and_members
    for row in _rows(sql, [until, period.start, manager_id]):
        _, members = teams.setdefault(row["team_id"], (row["team_name"], {}))
        if row["rep_id"] is not None:
            members[row["rep_id"]] = _display_name(
                row["first_name"], row["last_name"], row["username"]
            )
    return teams


def _numbers(
    manager_id: int, period: Period, until: dt.date, teams: Teams
) -> tuple[Numbers, dict[int, tuple[Decimal, ...]]]:
    """Each team's reps' figures and context from the deals closed before `until`, and
    each team's trend; a rep with deals for a team who is no longer a member of it is
    added to the team's members, unless those deals count in the trend only."""
    numbers: Numbers = {}
    trends: dict[int, tuple[Decimal, ...]] = {}
    for row in _deal_sums(manager_id, period, until):
        if row["team_id"] not in teams:
            continue  # a team the manager was given since the first query
        trend = (
            *(_from_cents(row[f"trend_{month}"]) for month in range(EARLIER_TREND_MONTHS)),
            _from_cents(row["previous"]),
            _from_cents(row["month_commission"]),
        )
        trends[row["team_id"]] = _add_trends(trends.get(row["team_id"], NO_TREND), trend)
        if not row["counted"]:
            continue
        # A deal counts for the team it was booked to (the rep's team on its closing
        # day), so the context of a rep who moved is split between the teams, and a
        # rep who left still shows where their earlier deals count.
        _, members = teams[row["team_id"]]
        members.setdefault(
            row["rep_id"],
            _display_name(row["rep__first_name"], row["rep__last_name"], row["rep__username"]),
        )
        month = Figures(
            deals=row["month_deals"],
            **{name: _from_cents(row[f"month_{name}"]) for name in MONEY_FIGURES},
        )
        previous = _from_cents(row["previous"])
        numbers[row["team_id"], row["rep_id"]] = (
            month,
            Context(
                previous=previous,
                change=month.commission - previous,
                year_to_date=_from_cents(row["year_to_date"]),
                awaiting_approval=_from_cents(row["awaiting_approval"]),
                awaiting_approval_count=row["awaiting_approval_count"],
            ),
        )
    return numbers, trends


def _section(
    team_id: int,
    name: str,
    members: dict[int, str],
    numbers: Numbers,
    trend: tuple[Decimal, ...],
) -> TeamSection:
    """One team's lines, by rep name, their totals and the team's trend."""
    lines = tuple(
        sorted(
            (
                RepLine(rep_id, rep_name, *numbers.get((team_id, rep_id), NOTHING))
                for rep_id, rep_name in members.items()
            ),
            key=lambda line: (line.name.casefold(), line.rep_id),
        )
    )
    return TeamSection(
        team_id,
        plain_text(name),
        lines,
        totals=sum((line.figures for line in lines), Figures()),
        context=sum((line.context for line in lines), Context()),
        trend=trend,
    )


def _deal_lines(
    manager_id: int, period: Period, until: dt.date, teams: Teams
) -> tuple[DealLine, ...]:
    """The period's deals for the manager's teams, in the report's order."""
    sql = _statements(connection.alias).deals
    rows = _rows(sql, [manager_id, period.start, until])
    team_order = {team_id: index for index, team_id in enumerate(teams)}
    lines = []
    for row in rows:
        team_id, rep_id, reference = row["team_id"], row["rep_id"], row["reference"]
        # A date on PostgreSQL, ISO text on SQLite (a raw cursor converts nothing).
        closed_on = row["closed_on"]
        if isinstance(closed_on, str):
            closed_on = dt.date.fromisoformat(closed_on)
        if team_id not in teams:
            continue  # a team the manager was given since the first query
        team_name, members = teams[team_id]
        rep_name = members[rep_id]  # _numbers added every rep with a deal in the period
        lines.append(
            (
                (team_order[team_id], rep_name.casefold(), rep_id, closed_on, reference),
                DealLine(
                    reference=reference,
                    closed_on=closed_on,
                    rep_name=rep_name,
                    team_name=plain_text(team_name),
                    amount=_from_cents(row["amount"]),
                    commission=_from_cents(row["commission"]),
                    status=row["status"] or "",
                ),
            )
        )
    return tuple(line for _, line in sorted(lines, key=lambda item: item[0]))


def _from_cents(cents: int | Decimal | None) -> Decimal:
    """A sum of whole cents (an int on SQLite, a Decimal on PostgreSQL) as money."""
    return to_money(Decimal(cents or 0).scaleb(-2))


# The manager's teams by name, each with the reps who were members at any time in the
# period (one row with no rep for a team that had none). Written out: the ORM says it
# with a FilteredRelation, but takes longer to build that than the database to run it.
TEAMS_AND_MEMBERS_SQL = """
    SELECT t.{t.pk} AS team_id, t.{t.name} AS team_name, m.{m.rep} AS rep_id,
           u.{u.first_name} AS first_name, u.{u.last_name} AS last_name,
           u.{u.username} AS username
    FROM {t} t
    LEFT OUTER JOIN {m} m
      ON m.{m.team} = t.{t.pk} AND m.{m.joined_on} < %s
         AND (m.{m.left_on} IS NULL OR m.{m.left_on} >= %s)
    LEFT OUTER JOIN {u} u ON u.{u.pk} = m.{m.rep}
    WHERE t.{t.manager} = %s
    ORDER BY t.{t.name}, t.{t.pk}
"""

# Each status's sum for the month is named month_<status>; the names must not shadow
# the commission table they sum over. Money is summed in whole cents ({deal_cents},
# {commission_cents}: see _cents). `counted`: the rep's deals that count in a figure
# (the rest count in the team's trend only). {trend}: the trend's earlier months,
# trend_0 (the oldest) to trend_9; the last two are `previous` and the month's.
DEAL_SUMS_SQL = """
    SELECT d.{d.team} AS team_id, d.{d.rep} AS rep_id,
           u.{u.first_name} AS rep__first_name, u.{u.last_name} AS rep__last_name,
           u.{u.username} AS rep__username,
           COUNT(d.{d.pk}) FILTER (WHERE d.{d.closed_on} >= %s) AS month_deals,
           SUM({deal_cents}) FILTER (WHERE d.{d.closed_on} >= %s) AS month_sales,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s) AS month_commission,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s AND c.{c.status} = %s)
             AS month_pending,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s AND c.{c.status} = %s)
             AS month_approved,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s AND c.{c.status} = %s)
             AS month_paid,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s AND d.{d.closed_on} < %s)
             AS previous,
           SUM({commission_cents}) FILTER (WHERE d.{d.closed_on} >= %s) AS year_to_date,
           SUM({commission_cents}) FILTER (WHERE c.{c.status} = %s) AS awaiting_approval,
           COUNT(c.{c.pk}) FILTER (WHERE c.{c.status} = %s) AS awaiting_approval_count,
           COUNT(d.{d.pk}) FILTER (WHERE d.{d.closed_on} >= %s OR c.{c.status} = %s) AS counted,
           {trend}
    FROM {d} d
    LEFT OUTER JOIN {c} c ON c.{c.deal} = d.{d.pk}
    INNER JOIN {u} u ON u.{u.pk} = d.{d.rep}
    WHERE d.{d.team} IN (SELECT t.{t.pk} FROM {t} t WHERE t.{t.manager} = %s)
      AND d.{d.closed_on} < %s
      AND (d.{d.closed_on} >= %s OR c.{c.status} = %s)
    GROUP BY d.{d.team}, d.{d.rep}, u.{u.first_name}, u.{u.last_name}, u.{u.username}
"""


# The period's deals with their commissions (none: NULLs), one row each. Written out as
# the others: the ORM takes as long to build it as the database to run it.
DEALS_SQL = """
    SELECT d.{d.team} AS team_id, d.{d.rep} AS rep_id, d.{d.external_ref} AS reference,
           d.{d.closed_on} AS closed_on, {deal_cents} AS amount,
           {commission_cents} AS commission, c.{c.status} AS status
    FROM {d} d
    LEFT OUTER JOIN {c} c ON c.{c.deal} = d.{d.pk}
    WHERE d.{d.team} IN (SELECT t.{t.pk} FROM {t} t WHERE t.{t.manager} = %s)
      AND d.{d.closed_on} >= %s AND d.{d.closed_on} < %s
"""


def _cents(column: str) -> str:
    """A money column as whole cents, exact on every database. SQLite keeps decimals
    as floats and SUM over them is a float sum, off by cents past 15 significant
    digits; one amount (at most 14 digits, models.MONEY) rounds back to its cents
    exactly, and integers add up exactly (BIGINT: as cents, PostgreSQL's INTEGER ends
    at 21 million)."""
    return f"CAST(ROUND({column} * 100) AS BIGINT)"


@dataclass(frozen=True)
class _Statements:
    teams_and_members: str
    deal_sums: str
    deals: str


@functools.cache
def _statements(alias: str) -> _Statements:
    names = {
        "t": Table(Team, alias),
        "m": Table(TeamMembership, alias),
        "d": Table(Deal, alias),
        "c": Table(Commission, alias),
        "u": Table(get_user_model(), alias),
    }
    cents = {
        "deal_cents": _cents(f"d.{names['d'].amount}"),
        "commission_cents": _cents(f"c.{names['c'].amount}"),
    }
    closed_on = f"d.{names['d'].closed_on}"
    trend = ",\n           ".join(
        f"SUM({cents['commission_cents']}) FILTER (WHERE {closed_on} >= %s AND "
        f"{closed_on} < %s) AS trend_{month}"
        for month in range(EARLIER_TREND_MONTHS)
    )
    return _Statements(
        teams_and_members=TEAMS_AND_MEMBERS_SQL.format(**names),
        deal_sums=DEAL_SUMS_SQL.format(**names, **cents, trend=trend),
        deals=DEALS_SQL.format(**names, **cents),
    )


def _deal_sums(manager_id: int, period: Period, until: dt.date) -> list[dict]:
    """One row per team and rep: the period's figures and its context, in one query.

    The period's and the context's sums come from the same rows with filtered
    aggregates, so the context costs no query of its own. Rows end before `until` and
    reach back to the trend's first month, and further only for commissions still
    pending.

    Written in SQL, the same on PostgreSQL and SQLite (FILTER needs SQLite 3.30):
    built with the ORM, its eleven filtered aggregates take longer to assemble and
    compile, on every report, than the query takes to run.
    """
    month, previous = period.start, period.previous()
    trend_months = period.trailing(TREND_MONTHS)[:EARLIER_TREND_MONTHS]
    Status = Commission.Status
    params = [
        *(month, month, month),
        *(month, Status.PENDING, month, Status.APPROVED, month, Status.PAID),
        *(previous.start, previous.end),
        period.year_start,
        Status.PENDING,
        Status.PENDING,
        min(previous.start, period.year_start),
        Status.PENDING,
        *(bound for trend_month in trend_months for bound in (trend_month.start, trend_month.end)),
        manager_id,
        until,
        trend_months[0].start,
        Status.PENDING,
    ]
    return _rows(_statements(connection.alias).deal_sums, params)


def _rows(sql: str, params: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
