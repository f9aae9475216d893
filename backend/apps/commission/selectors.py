"""Reading commission data: the report requests still owed."""

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.selectors import delivery_that_left
from core.enqueue import stalled_before

from .models import ReportRequest
from .periods import Period
from .services import report_idempotency_key


def owed_report_requests() -> QuerySet[ReportRequest]:
    """Requests whose report has not been built (nor refused) yet."""
    return ReportRequest.objects.filter(status=ReportRequest.Status.QUEUED)


def stalled_report_requests(now: dt.datetime | None = None) -> QuerySet[ReportRequest]:
    """Owed requests whose message is overdue beyond RECONCILE_STALLED_AFTER."""
    return owed_report_requests().filter(queued_at__lt=stalled_before(now or timezone.now()))


def sent_report(manager, period: Period) -> EmailDelivery | None:
    """The email that carried the manager's report for the period, if it has left: asking
    again then sends nothing, unless another copy is asked for."""
    return delivery_that_left(report_idempotency_key(manager, period))
