"""An operator's retry of a delivery whose last attempt may have reached the provider
(apps.mailing.resend_risk): it asks for confirmation, and then makes the delivery due."""

import pytest
from django.utils import timezone

from apps.mailing.models import EmailDelivery
from apps.mailing.tasks import send_email_delivery
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


@pytest.mark.django_db
@pytest.mark.parametrize("delivery_id", ["abc", 2**63, 10**30])
def test_an_operators_retry_of_a_task_with_a_forged_id_sees_no_delivery(delivery_id):
    """Retrying a failed email task asks its task class about the delivery first."""
    assert send_email_delivery.operator_retry_risk((delivery_id,), {}) == ""
    send_email_delivery.accept_operator_retry_risk((delivery_id,), {}, "ops")
