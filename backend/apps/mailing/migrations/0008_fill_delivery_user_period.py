"""Deliveries made before 0007 get their user, period and resend key from what they
carried then: the metadata the report sent along and the idempotency key."""

from django.db import migrations

BATCH = 2000


def fill(apps, schema_editor):
    EmailDelivery = apps.get_model("mailing", "EmailDelivery")
    User = apps.get_model("accounts", "User")
    users = set(User.objects.values_list("pk", flat=True))
    rows = EmailDelivery.objects.filter(period="").only("pk", "metadata", "idempotency_key")
    changed = []
    for delivery in rows.iterator(chunk_size=BATCH):
        metadata = delivery.metadata or {}
        manager_id = str(metadata.get("manager_id", ""))
        delivery.user_id = int(manager_id) if manager_id.isdigit() else None
        if delivery.user_id not in users:
            delivery.user_id = None
        delivery.period = str(metadata.get("period", ""))[:7]
        _, _, delivery.resend_key = delivery.idempotency_key.partition(":resend:")
        changed.append(delivery)
        if len(changed) == BATCH:
            EmailDelivery.objects.bulk_update(changed, ["user", "period", "resend_key"])
            changed = []
    EmailDelivery.objects.bulk_update(changed, ["user", "period", "resend_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("mailing", "0007_delivery_user_period_held"),
        ("accounts", "0003_user_language"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
