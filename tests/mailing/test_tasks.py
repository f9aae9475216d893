"""The email tasks (apps.mailing.tasks): a delivery id that is no id fails once and cleanly,
and the retry timing with the default settings."""

import pytest

from apps.mailing.send_errors import PermanentEmailError
from apps.mailing.tasks import send_email_delivery
from tests.support.ids import BIGINT_MAX, HUGE_IDS


@pytest.mark.django_db
@pytest.mark.parametrize("delivery_id", HUGE_IDS, ids=str)
def test_sending_a_huge_delivery_id_fails_once_cleanly(celery_eager, delivery_id, caplog):
    result = send_email_delivery.delay(delivery_id)

    assert result.failed()
    assert isinstance(result.result, PermanentEmailError), repr(result.result)
    expected = "no email delivery with id" if delivery_id == 2**31 else "whole number from 1 to"
    assert expected in str(result.result)
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_sending_a_non_integer_delivery_id_fails_once_cleanly(celery_eager, caplog):
    result = send_email_delivery.delay("abc")

    assert result.failed()
    assert f"email delivery id must be a whole number from 1 to {BIGINT_MAX}, got 'abc'" in str(
        result.result
    )
    assert "Traceback" not in caplog.text
