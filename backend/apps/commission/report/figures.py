"""The report's numbers: a few queries whatever the team sizes."""

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum

from core.validators import plain_text

from ..models import Commission, Deal, Team, TeamMembership
from ..money import ZERO, to_money
from ..periods import Period, month_to_date


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
