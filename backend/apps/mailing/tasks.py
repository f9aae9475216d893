"""Email tasks, on the `email` queue (routed in core/celery.py)."""

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.taskops.errors import NotRetryable
from core.validators import parse_id

from . import reconcile, selectors
from .claims import mark_failed
from .models import EmailDelivery
from .resend_risk import accept_duplicate_risk, duplicate_risk
from .send_errors import PermanentEmailError, TransientEmailError, describe_error
from .sending import send_delivery

logger = logging.getLogger(__name__)

DATABASE_AWAY = (OperationalError, InterfaceError)


def email_backoff(attempts: int) -> float | None:
    """Seconds before the next attempt after `attempts` of them, with full jitter; None
    once EMAIL_RETRY_MAX_RETRIES retries are used up.

    Counted from the delivery's own attempts, not the message's retry count, so a
    delivery queued again by the reconciler keeps the retries it has used.
    """
    if attempts > settings.EMAIL_RETRY_MAX_RETRIES:
        return None
    return get_exponential_backoff_interval(
        factor=settings.EMAIL_RETRY_BACKOFF,
        retries=max(attempts - 1, 0),
        maximum=settings.EMAIL_RETRY_BACKOFF_MAX,
        full_jitter=True,
    )


class EmailDeliveryTask(DjangoTask):
    # apps.taskops asks these before an operator's retry (see RetryPlan.warning).
    def operator_retry_risk(self, args, kwargs) -> str:
        delivery_id = _delivery_id(args, kwargs)
        cancelled = selectors.cancelled_delivery(delivery_id)
        if cancelled is not None:
            # Refused outright, not a warning to confirm: an operator ended it.
            why = (cancelled.last_error or "Cancelled by an operator.").splitlines()[0]
            raise NotRetryable(
                f"email delivery {cancelled.pk} to {cancelled.to_email} is not sent again: "
                f"{why} For a report, use 'Email another copy' on its team."
            )
        return duplicate_risk(delivery_id)

    def accept_operator_retry_risk(self, args, kwargs, accepted_by: str) -> None:
        accept_duplicate_risk(_delivery_id(args, kwargs), accepted_by)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Something unforeseen broke: the row must say so. send_delivery records its
        # own errors, and a database that is away leaves the row owed for the reconciler.
        if isinstance(exc, (PermanentEmailError, TransientEmailError, *DATABASE_AWAY)):
            return
        mark_failed(_delivery_id(args, kwargs), describe_error(exc))


def _delivery_id(args, kwargs) -> int | None:
    """The task's delivery id, if it is one (None matches no delivery)."""
    return parse_id(args[0] if args else kwargs.get("delivery_id"), EmailDelivery)


@shared_task(
    bind=True,
    base=EmailDeliveryTask,
    # The delivery row counts its attempts (email_backoff); this bounds nothing more.
    max_retries=None,
    # Expected failures: reported as FAILURE without a traceback; the service logs them.
    throws=(PermanentEmailError,),
)
def send_email_delivery(self, delivery_id: int) -> str:
    """Send one EmailDelivery when it is due; safe to run any number of times."""
    try:
        return send_delivery(delivery_id, task_id=self.request.id or "", backoff=email_backoff)
    except TransientEmailError as exc:
        if exc.retry_at is None:
            raise
        # The same time as the row's next_attempt_at: this message is the one due then.
        raise self.retry(exc=exc, eta=exc.retry_at) from exc
    except DATABASE_AWAY as exc:
        # The row did not change; if the database stays away longer than these
        # retries, the reconciler queues the delivery again.
        raise self.retry(
            exc=exc,
            countdown=email_backoff(self.request.retries + 1) or 0,
            max_retries=settings.EMAIL_RETRY_MAX_RETRIES,
        ) from exc


def send_at(delivery_id: int, eta) -> None:
    """Queue the delivery to run at `eta` (None: now); the reconcilers' enqueue."""
    send_email_delivery.apply_async((delivery_id,), eta=eta)


@shared_task
def reconcile_deliveries() -> dict:
    """Beat, every minute: queue again the owed deliveries whose message was lost."""
    return reconcile.reconcile_deliveries(send_at, email_backoff).as_dict()
