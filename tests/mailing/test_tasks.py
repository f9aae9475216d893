"""The email tasks (apps.mailing.tasks): a delivery id that is no id fails once and cleanly,
and the retry timing with the default settings."""

import pytest
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from apps.mailing.checks import check_retry_fits_visibility_timeout
from apps.mailing.send_errors import PermanentEmailError
from apps.mailing.tasks import email_backoff, send_email_delivery
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


def test_default_retries_last_about_an_hour_and_fit_the_visibility_timeout():
    """The email task's retry policy (email_backoff), with the default settings."""
    # The delivery's first attempt is followed by ten retries, then none.
    assert all(email_backoff(attempts) is not None for attempts in range(1, 11))
    assert email_backoff(11) is None
    # Without jitter: the longest each countdown can be. Full jitter draws each one
    # uniformly below that, so on average the window is half as long.
    countdowns = [
        get_exponential_backoff_interval(
            settings.EMAIL_RETRY_BACKOFF, retries, settings.EMAIL_RETRY_BACKOFF_MAX, False
        )
        for retries in range(settings.EMAIL_RETRY_MAX_RETRIES)
    ]
    assert all(
        0 <= email_backoff(attempts) <= countdowns[attempts - 1] for attempts in range(1, 11)
    )
    longest_window = sum(countdowns)
    assert 90 * 60 <= longest_window <= 2 * 60 * 60
    assert 45 * 60 <= longest_window / 2 <= 60 * 60
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility > max(countdowns) + settings.CELERY_TASK_TIME_LIMIT
    assert check_retry_fits_visibility_timeout() == []
