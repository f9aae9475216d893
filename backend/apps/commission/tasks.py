"""Commission report tasks, on the `reports` queue (routed in core/celery.py)."""

import functools
import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from kombu.exceptions import BatchPublishError
from kombu.exceptions import OperationalError as BrokerError

from apps.mailing.tasks import DATABASE_AWAY, send_email_delivery
from core.enqueue import enqueue_on_commit
from core.validators import parse_id

from . import reconcile
from .models import ReportRequest
from .periods import InvalidPeriod, parse_period
from .report.request import ReportRequestError, load_report_request
from .services import (
    MANAGERS_PER_CHUNK,
    dispatch_monthly_reports,
    finish_requests,
    prepare_report_email,
)

logger = logging.getLogger(__name__)

# Redis commands per pipeline in the monthly fan-out: two per report (the message and
# its task-sent event), so one flush per chunk of managers.
PUBLISH_BATCH = 2 * MANAGERS_PER_CHUNK

# A brief outage is ridden out with a few spaced-out retries. (Both tasks are safe to
# run again, so the global acks_late and reject_on_worker_lost hand a lost one back.)
RETRY_POLICY = {
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(
    # Only a database that is briefly away is worth another try; bad input is not.
    autoretry_for=DATABASE_AWAY,
    throws=(ReportRequestError,),
    **RETRY_POLICY,
)
def generate_and_send_commission_report(
    user_id: int, period: str | None = None, resend_key: str | None = None
) -> dict:
    """Build the manager's team report for the period (default: last month) and
    hand its email to the `email` queue. Safe to run twice: one email per manager
    and period, plus one per distinct `resend_key` an operator asks for.
    """
    try:
        manager, month = load_report_request(user_id, period, resend_key)
    except ReportRequestError as exc:
        logger.error("Commission report refused (user_id=%r, period=%r): %s", user_id, period, exc)
        # The requests waiting for this report are matched by what the task was given:
        # an id as stored (an int the column holds: a forged huge one never reaches SQL).
        if parse_id(user_id, get_user_model()) == user_id and isinstance(period, str):
            refused = ReportRequest.Status.REFUSED
            finish_requests(user_id, period, resend_key, refused, error=str(exc))
        raise
    report, delivery = prepare_report_email(manager, month, resend_key)
    outcome = {"report_id": report.pk, "delivery_id": delivery.pk, "period": str(month)}
    if delivery.has_left:
        logger.info("Report %s for %s already emailed; nothing to send", month, manager.username)
        return {**outcome, "email": "already-sent"}
    if delivery.status == delivery.Status.CANCELLED:
        logger.info(
            "Report %s for %s: its email was cancelled; nothing to send", month, manager.username
        )
        return {**outcome, "email": "cancelled"}
    # The delivery is committed: if the broker is away now, the email stays owed in
    # the database and the reconciler queues it.
    queued = enqueue_on_commit(queue_email, delivery.pk, what=f"email delivery {delivery.pk}")
    logger.info(
        "Report %s for %s built; email delivery %s %s",
        month,
        manager.username,
        delivery.pk,
        "queued" if queued else "left to the reconciler",
    )
    return {**outcome, "email": "queued" if queued else "owed"}


def queue_email(delivery_id: int) -> None:
    """The email task's message and its task-sent event in one Redis round trip.

    A batch is sent once, without kombu's retries; if it fails, the message goes again
    the usual way, which retries (a second message for one delivery does nothing).
    """
    try:
        with (
            send_email_delivery.app.producer_or_acquire() as producer,
            producer.batch(max_size=2),
        ):
            send_email_delivery.apply_async((delivery_id,), producer=producer)
    except BatchPublishError:
        send_email_delivery.delay(delivery_id)


@shared_task(
    # The database or the broker briefly away; what was claimed before stays claimed once.
    autoretry_for=(*DATABASE_AWAY, BrokerError),
    throws=(InvalidPeriod,),
    **RETRY_POLICY,
)
def send_monthly_commission_reports(period: str | None = None) -> dict:
    """The monthly beat entry: one `generate_and_send_commission_report` per manager
    for the period (default: last month), each queued once however often this runs.
    """
    month = parse_period(period)
    # One producer for the whole run, its messages (and their task-sent events) sent a
    # chunk at a time in one Redis pipeline: the fan-out waits on Redis once per chunk,
    # not once per message.
    with generate_and_send_commission_report.app.producer_or_acquire() as producer:
        queued = dispatch_monthly_reports(
            month,
            functools.partial(_queue_report, producer=producer),
            batch=lambda: producer.batch(max_size=PUBLISH_BATCH),
        )
    return {"period": str(month), "queued": queued}


def _queue_report(manager_id: int, period: str, *, producer) -> None:
    generate_and_send_commission_report.apply_async((manager_id, period), producer=producer)


@shared_task
def reconcile_report_requests() -> dict:
    """Beat, every minute: queue again the report requests whose message was lost."""
    return reconcile.reconcile_report_requests(generate_and_send_commission_report.delay).as_dict()
