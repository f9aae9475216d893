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


@pytest.mark.django_db
def test_a_delivery_asked_for_again_at_a_new_address_records_the_change():
    """The report rebuilt after the manager's address was corrected: the owed email goes
    to the new one, on record."""
    first, _ = create_delivery(
        idempotency_key="test:moved", to_email="old@example.com", subject="S", body_text="B"
    )
    EmailDelivery.objects.filter(pk=first.pk).update(status=Status.FAILED)

    again, _ = create_delivery(
        idempotency_key="test:moved", to_email="new@example.com", subject="S", body_text="B"
    )
    create_delivery(
        idempotency_key="test:moved", to_email="new@example.com", subject="S", body_text="B"
    )

    again.refresh_from_db()
    assert again.to_email == "new@example.com"
    assert [(c["old"], c["new"], c["by"]) for c in again.readdressed] == [
        ("old@example.com", "new@example.com", "asked for again with the user's address")
    ]
