"""What a provider's 429 asks for (apps.mailing.send_errors.provider_busy_for)."""

import datetime as dt
from email.utils import format_datetime

import pytest
import requests
from anymail.exceptions import AnymailAPIError
from django.utils import timezone

from apps.mailing.send_errors import provider_busy_for


def api_error(status: int, retry_after: str | None = None) -> AnymailAPIError:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return AnymailAPIError("refused", status_code=status, response=response)


@pytest.fixture(autouse=True)
def backoff_max(settings):
    settings.EMAIL_RETRY_BACKOFF_MAX = 900


def test_seconds_are_taken_as_given():
    assert provider_busy_for(api_error(429, "17")) == 17


def test_an_http_date_is_the_seconds_until_then():
    when = timezone.now() + dt.timedelta(seconds=300)
    assert 290 <= provider_busy_for(api_error(429, format_datetime(when, usegmt=True))) <= 300


@pytest.mark.parametrize("header", [None, "", "soon", "-5"])
def test_none_or_an_unreadable_one_is_zero(header):
    assert provider_busy_for(api_error(429, header)) == 0


def test_longer_than_the_longest_backoff_is_cut_to_it():
    """A retry waits unacknowledged in Redis; mailing.E001 sizes the visibility
    timeout for EMAIL_RETRY_BACKOFF_MAX, not for whatever a provider asks."""
    assert provider_busy_for(api_error(429, "86400")) == 900


@pytest.mark.parametrize("status", [400, 422, 500, 503])
def test_other_answers_are_not_a_request_to_wait(status):
    assert provider_busy_for(api_error(status, "17")) is None
