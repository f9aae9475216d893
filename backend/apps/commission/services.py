"""Writing commission data: team membership, deals with their commissions, the
report emails and the monthly fan-out."""

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import BatchPublishError

from apps.mailing.addresses import user_address_error
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from core import upsert
from core.enqueue import BROKER_AWAY, enqueue_on_commit, enqueue_or_leave
from core.model_sql import Table

from .models import (
    Commission,
    CommissionReport,
    Deal,
    ReportRequest,
    Team,
    TeamMembership,
)
from .money import commission_for, to_money
from .periods import Period
from .report.figures import build_report
from .report.render import render_html, render_text, report_attachments, report_subject
from .report.request import ReportRequestError, report_idempotency_key
from .selectors import manager_id_chunks, membership_on

logger = logging.getLogger(__name__)


class CommissionDataError(ValueError):
    """A write that would make the commission data inconsistent; `field` names the
    argument at fault, when one is, so a form can show the error beside it."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@transaction.atomic
def join_team(
    rep, team: Team, joined_on: dt.date, rate_override: Decimal | None = None
) -> TeamMembership:
    """Move a rep into a team from `joined_on`, closing the open membership the day before.

    History is kept: a rep is in at most one team at a time, and periods never overlap.
    """
    open_membership = (
        TeamMembership.objects.select_for_update().filter(rep=rep, left_on__isnull=True).first()
    )
    if open_membership:
        if open_membership.joined_on >= joined_on:
            raise CommissionDataError(
                f"{rep} joined {open_membership.team} on {open_membership.joined_on}; "
                f"cannot join {team} on {joined_on}"
            )
        open_membership.left_on = joined_on - dt.timedelta(days=1)
        open_membership.save(update_fields=["left_on"])
    if TeamMembership.objects.filter(rep=rep, left_on__gte=joined_on).exists():
        raise CommissionDataError(f"{rep} already has a membership after {joined_on}")
    return TeamMembership.objects.create(
        team=team,
        rep=rep,
        joined_on=joined_on,
        rate_override=None if rate_override is None else to_money(rate_override),
    )


@transaction.atomic
def record_deal(
    *,
    rep,
    amount: Decimal | str,
    closed_on: dt.date,
    external_ref: str,
    currency: str | None = None,
    status: str = Commission.Status.PENDING,
    today: dt.date | None = None,
) -> Deal:
    """Record a closed deal and the commission it earns the rep.

    The team and the rate come from the rep's membership on the closing day: the
    rep's own override when set, the team's rate otherwise. A deal cannot close after
    `today` (by default today in TIME_ZONE): the month-to-date report would count it
    before it happened.
    """
    currency = (currency or settings.COMMISSION_CURRENCY).upper()
    if currency != settings.COMMISSION_CURRENCY:
        raise CommissionDataError(
            f"deal {external_ref} is in {currency}; this deployment records "
            f"{settings.COMMISSION_CURRENCY} only"
        )
    amount = to_money(amount)
    if amount < 0:
        raise CommissionDataError(f"deal {external_ref} has a negative amount: {amount}")
    today = today or timezone.localdate()
    if closed_on > today:
        raise CommissionDataError(
            f"deal {external_ref} closes on {closed_on}, after today ({today}); "
            "record it once it has closed",
            field="closed_on",
        )
    if Deal.objects.filter(external_ref=external_ref).exists():
        raise CommissionDataError(f"deal {external_ref} is already recorded")
    membership = membership_on(rep, closed_on)
    if membership is None:
        raise CommissionDataError(f"{rep} was in no team on {closed_on}")

    deal = Deal.objects.create(
        rep=rep,
        team=membership.team,
        amount=amount,
        currency=currency,
        closed_on=closed_on,
        external_ref=external_ref,
    )
    rate = membership.effective_rate
    Commission.objects.create(
        deal=deal,
        rep=rep,
        amount=commission_for(amount, rate),
        rate=rate,
        status=status,
        earned_on=closed_on,
    )
    return deal


@transaction.atomic
def prepare_report_email(
    manager, period: Period, resend_key: str | None = None
) -> tuple[CommissionReport, EmailDelivery]:
    """Build, store and render the manager's report; record the email that carries it.

    One stored report and one delivery per manager and period, however often this
    runs; once the email has left (or was cancelled), neither changes again. An
    operator who wants another copy passes a new `resend_key`: each key is one more
    email, once.

    Raises ReportRequestError, naming the manager, when their address is empty or
    invalid (the report task checks first: load_report_request).
    """
    problem = user_address_error(manager)
    if problem:
        raise ReportRequestError(problem)
    key = report_idempotency_key(manager, period, resend_key)
    report = build_report(manager, period)
    subject = report_subject(report)
    body_text = render_text(report)
    body_html = render_html(report)
    attachments = report_attachments(report)
    # The delivery first: it says whether the email has left (then it is returned as
    # it was), which spares every report a query to ask that beforehand.
    delivery, _ = create_delivery(
        idempotency_key=key,
        to_email=manager.email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=attachments,
        metadata={"manager_id": str(manager.pk), "period": str(period)},
        user=manager,
        period=str(period),
        resend_key=resend_key or "",
    )
    if delivery.has_ended:
        # The stored report stays what that email said (or would have said, cancelled).
        stored = CommissionReport.objects.get(manager=manager, period=str(period))
    else:
        stored = _store_report(
            CommissionReport(
                manager=manager,
                period=str(period),
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                data=report.as_dict(),
                attachments=attachments,
            )
        )
    finish_requests(manager.pk, str(period), resend_key, ReportRequest.Status.BUILT, delivery)
    return stored, delivery


def _store_report(report: CommissionReport) -> CommissionReport:
    """Insert the manager's report for the month, or replace the one stored: one
    INSERT ... ON CONFLICT DO UPDATE (update_or_create takes a transaction, a locking
    read and a savepoint: several round trips on every report)."""
    upsert.insert(
        report,
        unique=("manager", "period"),
        update=("subject", "body_text", "body_html", "data", "attachments", "generated_at"),
    )
    return report


# Written out: the ORM takes longer to build this UPDATE than the database takes to
# run it, on every report.
FINISH_REQUESTS_SQL = """
    UPDATE {r}
    SET {r.status} = %(status)s, {r.delivery} = %(delivery_id)s, {r.last_error} = %(error)s,
        {r.finished_at} = %(now)s
    WHERE {r.manager} = %(manager_id)s AND {r.period} = %(period)s
      AND {r.resend_key} = %(resend_key)s AND {r.status} = %(queued)s
"""


@functools.cache
def _finish_requests_statement(alias: str) -> str:
    return FINISH_REQUESTS_SQL.format(r=Table(ReportRequest, alias))


def finish_requests(
    manager_id: int,
    period: str,
    resend_key: str | None,
    status: str,
    delivery: EmailDelivery | None = None,
    error: str = "",
) -> int:
    """Mark the queued requests for this report built or refused; how many there were.

    Matched by what the report task is given (manager, month, resend key), so a
    report asked for twice, or queued again by the reconciler, settles every request.
    """
    params = {
        "status": status,
        "delivery_id": delivery.pk if delivery else None,
        "error": error,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "manager_id": manager_id,
        "period": period,
        "resend_key": resend_key or "",
        "queued": ReportRequest.Status.QUEUED,
    }
    with connection.cursor() as cursor:
        cursor.execute(_finish_requests_statement(connection.alias), params)
        return cursor.rowcount


ReportEnqueue = Callable[[int, str, str | None], object]

# Managers claimed, and their reports queued, per transaction of the monthly fan-out.
MANAGERS_PER_CHUNK = 500


def request_report(
    manager,
    period: Period,
    enqueue: ReportEnqueue,
    *,
    source: str,
    requested_by: str = "",
    resend: bool = False,
) -> tuple[ReportRequest, bool]:
    """Record that the manager's report is owed, then queue it; (request, queued).

    The request is committed before the message is sent, so a broker that is away
    loses nothing: `queued` is False, the miss is logged, and the reconciler queues
    the request within RECONCILE_STALLED_AFTER seconds.
    """
    request = ReportRequest.objects.create(
        manager=manager,
        period=str(period),
        resend_key=uuid.uuid4().hex if resend else "",
        source=source,
        requested_by=requested_by,
    )
    queued = enqueue_on_commit(
        enqueue,
        manager.pk,
        str(period),
        request.resend_key or None,
        what=f"report request {request.pk}",
    )
    return request, queued


def dispatch_monthly_reports(
    period: Period,
    enqueue: Callable[[int, str], object],
    chunk_size: int = MANAGERS_PER_CHUNK,
    batch: Callable[[], AbstractContextManager] = nullcontext,
) -> int:
    """Queue the period's report once for every manager; return how many managers this
    run claimed (queued now, or left to the reconciler while the broker is away).

    Why claims and not only the delivery's idempotency key: the key keeps a manager
    from getting two emails, but the schedule firing twice (two beats, a retried or
    replayed fan-out) would still build every report twice and race two report tasks
    per manager. Instead each manager and period is claimed in the database, where a
    unique constraint lets exactly one run win, whichever order two runs go in:

    1. insert a monthly ReportRequest per manager of the chunk, tagged with this run's
       id, skipping conflicts (requests another run claimed stay theirs), and commit;
    2. read back the requests carrying this run's id: those managers are ours;
    3. enqueue their reports, inside `batch()`: the caller may buffer the chunk's
       messages and send them to the broker in one round trip when the block ends.

    The claims are committed before anything is queued, so a report task never starts
    before its request exists. When the broker is away, the rest of the run still
    claims its managers and leaves their messages to the reconciler
    (apps.commission.reconcile), which queues every request still owed. A batch that
    fails as it is sent may have reached the broker in part: its whole chunk counts as
    left to the reconciler, and a report queued twice is still built once.
    """
    run_id = uuid.uuid4()
    queued = left = 0
    for chunk in manager_id_chunks(chunk_size):
        claimed = _claim_managers(chunk, period, run_id)
        in_chunk, left_in_chunk = _queue_claimed(
            claimed, period, enqueue, batch, run_id, broker_away=left > 0
        )
        queued += in_chunk
        left += left_in_chunk
    logger.info(
        "Monthly reports for %s: queued %d manager(s) in run %s%s",
        period,
        queued,
        run_id,
        f"; {left} left to the reconciler (broker away)" if left else "",
    )
    return queued + left


def _claim_managers(chunk: list[int], period: Period, run_id: uuid.UUID) -> list[tuple[int, int]]:
    """Claim the period's monthly report for these managers, committed; (request id,
    manager id) of the ones this run won, by manager. Requests another run claimed
    first stay theirs (the unique constraint skips them)."""
    with transaction.atomic():
        ReportRequest.objects.bulk_create(
            [
                ReportRequest(
                    manager_id=manager_id,
                    period=str(period),
                    source=ReportRequest.Source.MONTHLY,
                    requested_by="monthly schedule",
                    run_id=run_id,
                )
                for manager_id in chunk
            ],
            ignore_conflicts=True,
        )
    ours = ReportRequest.objects.filter(period=str(period), run_id=run_id, manager_id__in=chunk)
    return list(ours.order_by("manager_id").values_list("pk", "manager_id"))


def _queue_claimed(
    claimed: list[tuple[int, int]],
    period: Period,
    enqueue: Callable[[int, str], object],
    batch: Callable[[], AbstractContextManager],
    run_id: uuid.UUID,
    *,
    broker_away: bool,
) -> tuple[int, int]:
    """Queue the claimed managers' reports inside one `batch()`; (queued, left to the
    reconciler). Once the broker has refused a message in this run (`broker_away`), the
    rest are left without trying; a batch that fails as it is sent may have reached the
    broker in part, and counts as left whole."""
    queued = left = 0
    try:
        with batch():
            for request_id, manager_id in claimed:
                if not broker_away and enqueue_or_leave(
                    enqueue, manager_id, str(period), what=f"report request {request_id}"
                ):
                    queued += 1
                else:
                    broker_away = True
                    left += 1
    except (*BROKER_AWAY, BatchPublishError) as exc:
        logger.warning(
            "Could not queue %d report request(s) of run %s (%s: %s); they stay owed "
            "in the database and the reconciler queues them again",
            queued,
            run_id,
            type(exc).__name__,
            exc,
        )
        return 0, queued + left
    return queued, left
