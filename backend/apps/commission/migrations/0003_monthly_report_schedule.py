"""The beat entry for the monthly reports, in django-celery-beat's tables.

Operators see and change it in the admin (Periodic tasks). Running this again
changes nothing: an entry that already exists, perhaps edited, is left alone.
"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

SCHEDULE_NAME = "Monthly commission reports"
TASK = "apps.commission.tasks.send_monthly_commission_reports"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=SCHEDULE_NAME).exists():
        return
    # 06:00 on the 1st in TIME_ZONE: last month is over for every manager there.
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="6",
        day_of_month="1",
        month_of_year="*",
        day_of_week="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=SCHEDULE_NAME,
        task=TASK,
        crontab=crontab,
        description=(
            "Queues last month's commission report for every team manager, once per "
            "manager and month however often it runs."
        ),
    )
    # Historical models send no signals: tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=SCHEDULE_NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("commission", "0002_monthlyreportdispatch"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
