"""How a month's reports went, for the operator's month page: who was owed one, what was
built, what became of each email, and the problems that need a person.

Reads only, in a fixed number of queries whatever the number of managers: counts are
aggregates, and the problems listed are the oldest PROBLEMS_SHOWN (the page links to
the filtered lists for the rest).
"""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.mailing.models import EmailDelivery, UndeliverableAddress
from apps.mailing.selectors import stalled_deliveries

from .models import CommissionReport, ReportRequest
from .periods import Period

DeliveryStatus = EmailDelivery.Status
RequestStatus = ReportRequest.Status

PROBLEMS_SHOWN = 50

# The outcomes in the order an email goes through them; each is a column of counts.
OUTCOMES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.RETRYING,
    DeliveryStatus.UNCONFIRMED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.COMPLAINED,
    DeliveryStatus.REJECTED,
    DeliveryStatus.FAILED,
    DeliveryStatus.HELD,
    DeliveryStatus.CANCELLED,
)
# A delivery in one of these needs a person: listed as a problem, each with its fix.
PROBLEM_STATUSES = frozenset(
    {
        DeliveryStatus.FAILED,
        DeliveryStatus.HELD,
        DeliveryStatus.BOUNCED,
        DeliveryStatus.COMPLAINED,
        DeliveryStatus.REJECTED,
    }
)
# An original is the month's own email to a manager (month-to-date ones too: one
# manager counts once); a copy is one asked for again (a resend key).
ORIGINAL = Q(resend_key="")


@dataclass(frozen=True)
class OutcomeCount:
    status: str
    label: str
    managers: int  # originals, each manager once
    copies: int


@dataclass(frozen=True)
class Problem:
    kind: str  # "failed", "held", "bounced", ... or "refused" (the report itself)
    manager_id: int | None
    manager_name: str
    what: str  # in words, the first line of the recorded error
    since: dt.datetime
    delivery_id: int | None = None
    request_id: int | None = None
    # For a held email: the mark that holds it, which an operator may clear.
    mark_id: int | None = None
    copy: bool = False


@dataclass(frozen=True)
class MonthSummary:
    period: str
    managers_owed: int  # managers with a report asked for this month, any way
    reports_built: int  # managers whose report is stored
    requests_queued: int  # managers whose report is not built yet
    requests_refused: int
    outcomes: tuple[OutcomeCount, ...]
    emails_owed: int  # emails still owed, copies too (a manager's originals once)
    oldest_owed_since: dt.datetime | None
    stalled: int  # owed emails nothing is moving (see stalled_deliveries)
    problems: tuple[Problem, ...] = field(default=())
    problems_total: int = 0

    @property
    def oldest_owed_age(self) -> dt.timedelta | None:
        return timezone.now() - self.oldest_owed_since if self.oldest_owed_since else None

    @property
    def emailed(self) -> int:
        """Managers whose email the provider has (sent or any later outcome)."""
        return sum(
            outcome.managers for outcome in self.outcomes if outcome.status in EmailDelivery.GONE
        )


def deliveries_by_outcome(periods: list[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(period, status) -> (managers, copies) for these months' emails, in one query:
    the month page's outcome counts, for /metrics."""
    rows = (
        EmailDelivery.objects.filter(period__in=periods)
        .values("period", "status")
        .annotate(
            managers=Count("user", distinct=True, filter=ORIGINAL),
            copies=Count("pk", filter=~ORIGINAL),
        )
    )
    return {(row["period"], row["status"]): (row["managers"], row["copies"]) for row in rows}


def month_summary(period: Period) -> MonthSummary:
    month = str(period)
    requests = ReportRequest.objects.filter(period=month).aggregate(
        managers=Count("manager", distinct=True),
        queued=Count("manager", distinct=True, filter=Q(status=RequestStatus.QUEUED)),
        refused=Count("manager", distinct=True, filter=Q(status=RequestStatus.REFUSED)),
        oldest_queued=Min("created_at", filter=Q(status=RequestStatus.QUEUED)),
    )
    deliveries = EmailDelivery.objects.filter(period=month)
    by_status = {
        row["status"]: row
        for row in deliveries.values("status").annotate(
            managers=Count("user", distinct=True, filter=ORIGINAL),
            copies=Count("pk", filter=~ORIGINAL),
            oldest=Min("created_at"),
        )
    }
    outcomes = tuple(
        OutcomeCount(
            status=status,
            label=status.label,
            managers=by_status.get(status, {}).get("managers", 0),
            copies=by_status.get(status, {}).get("copies", 0),
        )
        for status in OUTCOMES
    )
    oldest = [requests["oldest_queued"]] + [
        row["oldest"] for status, row in by_status.items() if status in EmailDelivery.OWED
    ]
    problems, problems_total = _problems(month, by_status)
    return MonthSummary(
        period=month,
        managers_owed=requests["managers"],
        reports_built=CommissionReport.objects.filter(period=month).count(),
        requests_queued=requests["queued"],
        requests_refused=requests["refused"],
        outcomes=outcomes,
        emails_owed=sum(
            row["managers"] + row["copies"]
            for status, row in by_status.items()
            if status in EmailDelivery.OWED
        ),
        oldest_owed_since=min((when for when in oldest if when), default=None),
        stalled=stalled_deliveries().filter(period=month).count(),
        problems=problems,
        problems_total=problems_total,
    )


def _problems(month: str, by_status: dict) -> tuple[tuple[Problem, ...], int]:
    """The oldest problems of the month (emails that need a person, reports refused),
    and how many there are in all."""
    refused = ReportRequest.objects.filter(period=month, status=RequestStatus.REFUSED)
    total = refused.count() + sum(
        row["managers"] + row["copies"]
        for status, row in by_status.items()
        if status in PROBLEM_STATUSES
    )
    deliveries = list(
        EmailDelivery.objects.filter(period=month, status__in=PROBLEM_STATUSES)
        .select_related("user")
        .order_by("updated_at", "pk")[:PROBLEMS_SHOWN]
    )
    held_to = {d.to_email.lower() for d in deliveries if d.status == DeliveryStatus.HELD}
    marks = dict(
        UndeliverableAddress.objects.filter(email__in=held_to, cleared_at__isnull=True).values_list(
            "email", "pk"
        )
    )
    problems = [_delivery_problem(delivery, marks) for delivery in deliveries]
    problems += [
        Problem(
            kind="refused",
            manager_id=request.manager_id,
            manager_name=str(request.manager),
            what=_first_line(request.last_error) or "The report was refused.",
            since=request.finished_at or request.created_at,
            request_id=request.pk,
            copy=bool(request.resend_key),
        )
        for request in refused.select_related("manager").order_by("created_at", "pk")[
            :PROBLEMS_SHOWN
        ]
    ]
    problems.sort(key=lambda problem: problem.since)
    return tuple(problems[:PROBLEMS_SHOWN]), total


def _delivery_problem(delivery: EmailDelivery, marks: dict[str, int]) -> Problem:
    default = DeliveryStatus(delivery.status).label
    return Problem(
        kind=delivery.status,
        manager_id=delivery.user_id,
        manager_name=str(delivery.user) if delivery.user else delivery.to_email,
        what=_first_line(delivery.last_error) or default,
        since=delivery.tracked_at or delivery.updated_at,
        delivery_id=delivery.pk,
        mark_id=marks.get(delivery.to_email.lower()),
        copy=bool(delivery.resend_key),
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
