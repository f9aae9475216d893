"""Owed report requests the broker lost, found in the database and queued again.

A ReportRequest stays QUEUED until the report task builds the report and records its
email (or refuses the request). One still queued RECONCILE_STALLED_AFTER seconds
after its message was queued lost that message (Redis crashed, the fan-out could not
reach the broker, a worker died holding it), and is queued again. Queuing is a
compare-and-set on `queued_at`, so two reconcilers never queue one request twice in
a round; the report task is idempotent, so a late original message changes nothing.
Once built, the email is owed by its EmailDelivery (apps.mailing.reconcile).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from core.enqueue import enqueue_or_leave

from .models import ReportRequest
from .selectors import stalled_report_requests

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# A request queued this many times that never ran is kept owed, and shown, but no
# longer queued by itself: something other than a lost message is wrong with it.
MAX_REQUEUES = 10


@dataclass
class RequestsReconciled:
    requeued: list[int] = field(default_factory=list)
    broker_away: bool = False

    def as_dict(self) -> dict:
        return {"requeued": len(self.requeued), "broker_away": self.broker_away}


def reconcile_report_requests(
    enqueue: Callable[[int, str, str | None], object], *, dry_run: bool = False
) -> RequestsReconciled:
    """Queue again the report requests whose message is overdue; with `dry_run`, only
    say which."""
    now = timezone.now()
    stalled = stalled_report_requests(now).filter(requeues__lt=MAX_REQUEUES).order_by("queued_at")
    done = RequestsReconciled()
    for request in stalled[:BATCH_SIZE]:
        if dry_run:
            done.requeued.append(request.pk)
            continue
        if not ReportRequest.objects.filter(pk=request.pk, queued_at=request.queued_at).update(
            queued_at=now, requeues=F("requeues") + 1
        ):
            continue
        if not enqueue_or_leave(
            enqueue,
            request.manager_id,
            request.period,
            request.resend_key or None,
            what=f"report request {request.pk}",
        ):
            done.broker_away = True
            break
        done.requeued.append(request.pk)
    if done.requeued:
        logger.warning(
            "Reconciled owed report requests%s: %d queued again (%s)",
            " (dry run)" if dry_run else "",
            len(done.requeued),
            ", ".join(map(str, done.requeued[:20])),
        )
    return done
