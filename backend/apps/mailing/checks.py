"""System checks for the email settings that only fail later, under load or in an outage."""

from numbers import Number

from django.conf import settings
from django.core import checks


def check_retry_fits_visibility_timeout(app_configs=None, **kwargs):
    """A retry waits out its countdown unacknowledged in Redis, then runs; if the
    visibility timeout ends first, Redis hands the same task to a second worker.
    """
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    needed = settings.EMAIL_RETRY_BACKOFF_MAX + settings.CELERY_TASK_TIME_LIMIT
    if visibility > needed:
        return []
    return [
        checks.Error(
            f"CELERY_VISIBILITY_TIMEOUT ({visibility}s) must be above EMAIL_RETRY_BACKOFF_MAX "
            f"plus CELERY_TASK_TIME_LIMIT ({settings.EMAIL_RETRY_BACKOFF_MAX}s + "
            f"{settings.CELERY_TASK_TIME_LIMIT}s = {needed}s).",
            hint="Raise CELERY_VISIBILITY_TIMEOUT, or lower EMAIL_RETRY_BACKOFF_MAX.",
            id="mailing.E001",
        )
    ]


def check_provider_timeout_fits_task(app_configs=None, **kwargs):
    """A provider call cut off by the task's soft time limit may have been accepted,
    and the message then goes out again on the next attempt.
    """
    timeout = settings.ANYMAIL.get("REQUESTS_TIMEOUT", 30)
    total = sum(timeout) if isinstance(timeout, tuple | list) else timeout
    if not isinstance(total, Number) or total < settings.CELERY_TASK_SOFT_TIME_LIMIT:
        return []
    return [
        checks.Warning(
            f"ANYMAIL_REQUESTS_TIMEOUT ({total}s) is not below CELERY_TASK_SOFT_TIME_LIMIT "
            f"({settings.CELERY_TASK_SOFT_TIME_LIMIT}s): a slow provider call can be cut off "
            "after the provider accepted the message, and the retry sends it twice.",
            hint="Lower ANYMAIL_REQUESTS_TIMEOUT or raise CELERY_TASK_SOFT_TIME_LIMIT.",
            id="mailing.W001",
        )
    ]
