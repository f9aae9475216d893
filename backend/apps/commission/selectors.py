"""Reading commission data: memberships, managers, and the report requests still owed."""

import datetime as dt
from collections.abc import Iterator

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.selectors import delivery_that_ended
from core.overdue import overdue_before

from .models import ReportRequest, Team, TeamMembership
from .periods import Period
from .report.request import report_idempotency_key


def owed_report_requests() -> QuerySet[ReportRequest]:
    """Requests whose report has not been built (nor refused) yet."""
    return ReportRequest.objects.filter(status=ReportRequest.Status.QUEUED)


def stalled_report_requests(now: dt.datetime | None = None) -> QuerySet[ReportRequest]:
    """Owed requests whose message is overdue (core.overdue)."""
    return owed_report_requests().filter(queued_at__lt=overdue_before(now or timezone.now()))


def ended_report_email(manager, period: Period) -> EmailDelivery | None:
    """The email of the manager's report for the period, if it has left or an operator
    cancelled it: asking again then sends nothing, unless another copy is asked for."""
    return delivery_that_ended(report_idempotency_key(manager, period))


def membership_on(rep, day: dt.date) -> TeamMembership | None:
    """The rep's membership on that day, if any."""
    return (
        TeamMembership.objects.select_related("team")
        .filter(rep=rep, joined_on__lte=day)
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=day))
        .first()
    )


def manager_id_chunks(size: int) -> Iterator[list[int]]:
    """Ids of every user who manages a team, ascending, `size` at a time.

    Keyset pagination: each chunk is one small query, so no more than `size` ids
    are held at once, however many managers there are.
    """
    after = 0
    while True:
        chunk = list(
            Team.objects.filter(manager_id__gt=after)
            .order_by("manager_id")
            .values_list("manager_id", flat=True)
            .distinct()[:size]
        )
        if not chunk:
            return
        yield chunk
        after = chunk[-1]
