"""The beat entries that queue again the owed work the broker lost, every minute.

Operators see and change them in the admin (Periodic tasks). Running this again
changes nothing: an entry that already exists, perhaps edited, is left alone. Both
live here, the email one too, so that one migration owns the reconcilers' schedule.
"""

from django.db import migrations
from django.utils import timezone

ENTRIES = {
    "Reconcile owed reports": (
        "apps.commission.tasks.reconcile_report_requests",
        "Queues again every report request whose message the broker lost "
        "(RECONCILE_STALLED_AFTER seconds overdue).",
    ),
    "Reconcile owed emails": (
        "apps.mailing.tasks.reconcile_deliveries",
        "Queues again every email delivery whose message the broker lost, and marks "
        "deliveries stuck sending as unconfirmed.",
    ),
}


def create_entries(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    for name, (task, description) in ENTRIES.items():
        if not PeriodicTask.objects.filter(name=name).exists():
            PeriodicTask.objects.create(
                name=name, task=task, interval=every_minute, description=description
            )
    # Historical models send no signals: tell a running beat that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_entries(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, _) in ENTRIES.items():
        PeriodicTask.objects.filter(name=name, task=task).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("commission", "0004_report_requests"),
        ("mailing", "0003_owed_work"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_entries, remove_entries)]
