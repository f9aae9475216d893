"""When owed work is overdue: the one threshold both reconcilers and /metrics use.

A report request or an email delivery whose time has come is run by its message
within moments; one still waiting RECONCILE_STALLED_AFTER seconds later lost that
message (Redis lost it, a killed worker held it), and the reconcilers queue it again.
"""

import datetime as dt

from django.conf import settings


def overdue_before(now: dt.datetime) -> dt.datetime:
    """Owed work due (or last queued) before this moment is overdue: its message is
    taken as lost."""
    return now - dt.timedelta(seconds=settings.RECONCILE_STALLED_AFTER)
