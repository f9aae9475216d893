"""Recording an email delivery (apps.mailing.services): once per idempotency key, inside
the caller's transaction."""

import pytest
from django.db import transaction

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery

Status = EmailDelivery.Status


@pytest.mark.django_db
def test_a_delivery_is_recorded_once_per_key_inside_the_callers_transaction():
    with transaction.atomic():
        first, created = create_delivery(
            idempotency_key="test:once", to_email="boss@example.com", subject="1", body_text="B"
        )
        again, created_again = create_delivery(
            idempotency_key="test:once", to_email="boss@example.com", subject="2", body_text="B"
        )
        # The taken key broke nothing: the transaction goes on.
        assert EmailDelivery.objects.count() == 1

    assert (created, created_again) == (True, False)
    stored = EmailDelivery.objects.get()
    assert again.pk == first.pk == stored.pk
    assert (stored.subject, stored.status, stored.created_at) == (
        "2",
        Status.QUEUED,
        first.created_at,
    )

    EmailDelivery.objects.update(status=Status.SENT)
    left, _ = create_delivery(
        idempotency_key="test:once", to_email="boss@example.com", subject="3", body_text="B"
    )
    assert (left.pk, left.subject) == (first.pk, "2")
