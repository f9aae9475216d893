"""The admin log as the record of operator writes: who changed which row, when, how.

Services write it themselves (not the admin), so a write made from the shell or a
command is on record as well as one made from the admin.
"""

from collections.abc import Sequence

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import models


def log_changes(by, objects: Sequence[models.Model], message: str) -> None:
    """One admin log entry per object, under `by`'s name: each object's History
    page and the admin's "Recent actions" show it."""
    if objects:
        LogEntry.objects.log_actions(
            user_id=by.pk, queryset=objects, action_flag=CHANGE, change_message=message
        )
