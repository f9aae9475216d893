"""The message built for a delivery (apps.mailing.message): a provider that takes an
idempotency key gets the same one on every attempt."""

import uuid as uuid_module

import pytest

from apps.mailing.message import build_message
from tests.support.owed_work import new_delivery


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("backend", "header"),
    [
        ("anymail.backends.brevo.EmailBackend", "idempotencyKey"),
        ("anymail.backends.postmark.EmailBackend", None),
    ],
)
def test_a_provider_that_takes_an_idempotency_key_gets_the_same_one_every_attempt(
    settings, backend, header
):
    settings.EMAIL_BACKEND = backend
    delivery = new_delivery()

    first, second = build_message(delivery), build_message(delivery)

    if header is None:
        assert first.extra_headers == {}
    else:
        assert first.extra_headers[header] == second.extra_headers[header]
        assert uuid_module.UUID(first.extra_headers[header]).version == 5
        other = build_message(new_delivery("another"))
        assert other.extra_headers[header] != first.extra_headers[header]
