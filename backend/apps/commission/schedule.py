"""The monthly beat entry follows TIME_ZONE.

Migration 0003 created it with the TIME_ZONE of the day it ran; a deployment that
changes TIME_ZONE later would keep firing at 06:00 in the old zone. After every
migrate (each deploy, each `make run`) the entry is moved to a crontab with the same
times in the current TIME_ZONE; its times, however an operator edited them, stay.
"""

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask

MONTHLY_SCHEDULE_NAME = "Monthly commission reports"


def follow_time_zone(**kwargs) -> bool:
    """post_migrate receiver; True when the entry was moved to TIME_ZONE."""
    entry = (
        PeriodicTask.objects.filter(name=MONTHLY_SCHEDULE_NAME, crontab__isnull=False)
        .select_related("crontab")
        .first()
    )
    if entry is None or str(entry.crontab.timezone) == settings.TIME_ZONE:
        return False
    times = entry.crontab
    # Another crontab row, not this one changed: other entries may share it.
    entry.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=times.minute,
        hour=times.hour,
        day_of_month=times.day_of_month,
        month_of_year=times.month_of_year,
        day_of_week=times.day_of_week,
        timezone=settings.TIME_ZONE,
    )
    entry.save()  # django-celery-beat tells a running beat that its schedule changed
    return True
