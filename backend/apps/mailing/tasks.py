"""Email tasks, on the `email` queue (routed in core/celery.py)."""

import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings

from . import services

logger = logging.getLogger(__name__)


class EmailDeliveryTask(DjangoTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Retries are exhausted, or something unforeseen broke: the row must say so.
        # (A permanent error is already recorded, in the provider's words.)
        if isinstance(exc, services.PermanentEmailError):
            return
        delivery_id = args[0] if args else kwargs.get("delivery_id")
        services.mark_failed(delivery_id, services.describe_error(exc))


@shared_task(
    bind=True,
    base=EmailDeliveryTask,
    autoretry_for=(services.TransientEmailError,),
    retry_backoff=settings.EMAIL_RETRY_BACKOFF,
    retry_backoff_max=settings.EMAIL_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.EMAIL_RETRY_MAX_RETRIES,
    # Safe because sending is idempotent: a message redelivered after a worker
    # died is either sent now or recognised as already sent.
    acks_late=True,
    reject_on_worker_lost=True,
    # Expected failures: reported as FAILURE without a traceback; the service logs them.
    throws=(services.PermanentEmailError,),
)
def send_email_delivery(self, delivery_id: int) -> str:
    """Send one EmailDelivery; safe to run any number of times."""
    return services.send_delivery(delivery_id)
