"""What a failed send means: whether trying again may help, whether the message may
have reached the provider anyway, and how to say it to operators; and the two errors
apps.mailing.sending raises for its task.
"""

import datetime as dt
import email.utils
import smtplib

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
)
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone
from urllib3.exceptions import NewConnectionError


class TransientEmailError(Exception):
    """Sending failed in a way that may pass (provider 5xx/429, timeout, connection).

    `retry_at` is when the delivery is due again (also stored on the row), or None
    when its attempts are used up and nothing will send it by itself.
    """

    def __init__(self, message: str, retry_at: dt.datetime | None = None):
        super().__init__(message)
        self.retry_at = retry_at


class PermanentEmailError(Exception):
    """Sending failed in a way that retrying will not fix (4xx, refused address)."""


def is_transient(exc: BaseException) -> bool:
    """Whether a send error may pass by itself, so that trying later makes sense."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return False
    if isinstance(exc, AnymailAPIError):
        # No status: the request never got an answer (timeout, connection refused).
        return exc.status_code is None or exc.status_code == 429 or exc.status_code >= 500
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    return isinstance(
        exc, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError | SoftTimeLimitExceeded
    )


def provider_busy_for(exc: BaseException) -> float | None:
    """For the provider's "too many requests" (429): the seconds its Retry-After asks
    for (0 when it names none), at most EMAIL_RETRY_BACKOFF_MAX, as the visibility
    timeout allows for (mailing.E001). None for any other error."""
    if not (isinstance(exc, AnymailAPIError) and exc.status_code == 429):
        return None
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After", "") if response is not None else ""
    return min(max(_seconds_from(header.strip()), 0.0), settings.EMAIL_RETRY_BACKOFF_MAX)


def _seconds_from(retry_after: str) -> float:
    """Retry-After is seconds or an HTTP date (RFC 9110, 10.2.3); 0 when unreadable."""
    try:
        return float(retry_after)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return 0.0
    return (when - timezone.now()).total_seconds() if when.tzinfo else 0.0


def may_have_left(exc: BaseException) -> bool:
    """Whether a transient send error leaves it unknown if the provider took the message.

    An answer (5xx, 429, an SMTP 4xx) says it did not, and so does a connection that
    never opened. Anything else (a timeout waiting for the answer, a connection dropped
    mid-call, the task's time limit) may have come after the provider accepted it.
    """
    if isinstance(exc, AnymailAPIError) and exc.status_code is not None:
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return False
    cause = exc.__cause__ or exc  # Anymail raises its error from the requests one
    if isinstance(cause, requests.ConnectTimeout | ConnectionRefusedError):
        return False
    if isinstance(cause, requests.ConnectionError) and cause.args:
        # requests wraps urllib3's MaxRetryError, whose reason says what went wrong.
        return not isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)
    return True


def describe_error(exc: BaseException) -> str:
    """The error as operators need it: with the provider's own answer when there is one."""
    text = f"{type(exc).__name__}: {exc}"
    response = getattr(exc, "response", None)
    if isinstance(exc, AnymailError) and exc.status_code is None and response is not None:
        # Anymail leaves the answer out when the call itself succeeded (all recipients
        # refused), yet it is the answer that says why.
        text += f"\n{exc.esp_name or 'Provider'} API response {response.status_code}: "
        text += response.text[:2000]
    return text
