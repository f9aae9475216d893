"""When a delivery whose attempt failed is due again.

The backoff itself (how long after how many attempts) is the sending task's policy
(apps.mailing.tasks.email_backoff); these apply it to one delivery.
"""

import datetime as dt
from collections.abc import Callable

from django.conf import settings

# How long to wait before the next attempt, given the attempts made so far; None when
# no attempt is left.
Backoff = Callable[[int], float | None]


def wait_before_resending(backoff: Backoff, attempts: int) -> float | None:
    """After a send that may have left: long enough for the provider's event to arrive
    (with tracking on), and never shorter than the ordinary backoff."""
    countdown = backoff(attempts)
    if countdown is None or not settings.EMAIL_TRACKING_ENABLED:
        return countdown
    return max(countdown, settings.EMAIL_UNCONFIRMED_WAIT)


def due_after(countdown: float | None, now: dt.datetime) -> dt.datetime | None:
    """When a delivery waiting `countdown` seconds from `now` is due; None: never."""
    return now + dt.timedelta(seconds=countdown) if countdown is not None else None
