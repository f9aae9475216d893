"""Email configuration: providers from the environment, the tracking secret, retry timing."""

import json
import secrets

import pytest
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from apps.mailing.checks import (
    check_provider_timeout_fits_task,
    check_retry_fits_visibility_timeout,
)
from apps.mailing.tasks import email_backoff
from tests.support.fresh_python import fresh_python


def load_settings(**variables: str):
    """The settings imported afresh with only these variables, as a deployment would."""
    return fresh_python("-c", ANYMAIL_AS_JSON, **variables)


ANYMAIL_AS_JSON = (
    "import json; from django.conf import settings; print(json.dumps(settings.ANYMAIL))"
)


def test_anymail_settings_come_from_the_environment():
    loaded = load_settings(
        POSTMARK_SERVER_TOKEN="pm-token",
        MAILGUN_API_KEY="mg-key",
        MAILGUN_SENDER_DOMAIN="mg.example.com",
        MAILGUN_API_URL="https://api.eu.mailgun.net/v3",
        SENDGRID_API_KEY="",  # set but empty: left out, like an unset variable
        AMAZON_SES_REGION="eu-west-1",
        BREVO_API_KEY="brevo-key",
        ANYMAIL_REQUESTS_TIMEOUT="12.5",
        ANYMAIL_WEBHOOK_SECRET="hook:s3cret,old:s3cret",
    )

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "MAILGUN_API_KEY": "mg-key",
        "MAILGUN_SENDER_DOMAIN": "mg.example.com",
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
        "AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"},
        "BREVO_API_KEY": "brevo-key",
        "REQUESTS_TIMEOUT": 12.5,
        "WEBHOOK_SECRET": ["hook:s3cret", "old:s3cret"],
    }


def test_production_with_tracking_on_and_no_webhook_secret_fails_loudly():
    loaded = load_settings(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="reports.example.com",
        EMAIL_TRACKING_ENABLED="true",
    )

    assert loaded.returncode != 0
    assert "EMAIL_TRACKING_ENABLED is on but ANYMAIL_WEBHOOK_SECRET is empty" in loaded.stderr


def test_a_webhook_secret_must_be_user_colon_password():
    loaded = load_settings(EMAIL_TRACKING_ENABLED="true", ANYMAIL_WEBHOOK_SECRET="justapassword")

    assert loaded.returncode != 0
    assert "ANYMAIL_WEBHOOK_SECRET must be 'user:password'" in loaded.stderr


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
