"""System checks on the email settings (apps.mailing.checks): a retry that outlasts the
broker's visibility timeout is an error, a provider timeout beyond the soft time limit a
warning."""

import pytest

from apps.mailing.checks import (
    check_provider_timeout_fits_task,
    check_retry_fits_visibility_timeout,
)


def test_check_errors_when_the_visibility_timeout_is_shorter_than_a_retry(settings):
    settings.EMAIL_RETRY_BACKOFF_MAX = 900
    settings.CELERY_TASK_TIME_LIMIT = 180
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 1080}

    [error] = check_retry_fits_visibility_timeout()

    assert error.id == "mailing.E001"
    assert "900s + 180s = 1080s" in error.msg


@pytest.mark.parametrize(("timeout", "warns"), [(30, False), (120, True), ((10, 115), True)])
def test_check_warns_when_the_provider_timeout_outlasts_the_soft_time_limit(
    settings, timeout, warns
):
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 120
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": timeout}

    assert [w.id for w in check_provider_timeout_fits_task()] == (["mailing.W001"] if warns else [])
