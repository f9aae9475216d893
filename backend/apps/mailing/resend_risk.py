"""An operator's retry of a delivery whose last attempt may have reached the provider:
what it risks (a second copy), and going ahead anyway. apps.taskops asks these through
the email task before it sends the failed task again."""

import logging

from django.utils import timezone

from .models import EmailDelivery

logger = logging.getLogger(__name__)

Status = EmailDelivery.Status


def duplicate_risk(delivery_id) -> str:
    """Why sending this delivery again may give its recipient a second copy ("" if it
    may not): its last attempt's outcome is unknown."""
    delivery = EmailDelivery.objects.filter(pk=delivery_id, status=Status.UNCONFIRMED).first()
    if delivery is None:
        return ""
    last_error = (delivery.last_error or "no error recorded").splitlines()[0]
    return (
        f"Email delivery {delivery.pk} to {delivery.to_email} is unconfirmed: its last "
        f"attempt may have reached the provider ({last_error}), "
        "so a copy may already have arrived."
    )


def accept_duplicate_risk(delivery_id, accepted_by: str) -> bool:
    """An operator chose to send an unconfirmed delivery again: make it due now."""
    now = timezone.now()
    accepted = EmailDelivery.objects.filter(pk=delivery_id, status=Status.UNCONFIRMED).update(
        next_attempt_at=now, updated_at=now
    )
    if accepted:
        logger.warning(
            "Email delivery %s: %s sends it again although a copy may have arrived",
            delivery_id,
            accepted_by,
        )
    return bool(accepted)
