"""An operator's retry of a delivery whose last attempt may have reached the provider
(apps.mailing.resend_risk): it asks for confirmation, and then makes the delivery due."""

import pytest
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.taskops.errors import NeedsConfirmation
from apps.taskops.services import retry_failed_task
from tests.support.owed_work import failed_send_result, new_delivery

Status = EmailDelivery.Status


@pytest.mark.django_db
def test_an_operator_retry_of_an_unconfirmed_delivery_needs_confirmation(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent.append(kwargs),
    )
    delivery = new_delivery(
        status=Status.UNCONFIRMED, next_attempt_at=None, last_error="ReadTimeout: timed out"
    )
    failure = failed_send_result(delivery)

    with pytest.raises(NeedsConfirmation, match="a copy may already have arrived"):
        retry_failed_task(failure, retried_by_name="ops")
    assert sent == []
    assert EmailDelivery.objects.get(pk=delivery.pk).next_attempt_at is None

    retry_failed_task(failure, retried_by_name="ops", confirmed=True)

    assert len(sent) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.UNCONFIRMED
    assert delivery.next_attempt_at <= timezone.now()  # due: the retry's message claims it
