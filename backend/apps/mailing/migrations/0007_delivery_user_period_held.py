import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailing", "0006_cancelled_deliveries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UndeliverableAddress",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "email",
                    models.EmailField(db_index=True, help_text="Lower case.", max_length=254),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("bounced", "Hard bounce"),
                            ("complained", "Marked as spam by the recipient"),
                            ("refused", "Refused by the provider (suppressed or invalid)"),
                        ],
                        max_length=16,
                    ),
                ),
                ("detail", models.TextField(blank=True, help_text="The provider's own words.")),
                ("since", models.DateTimeField(default=django.utils.timezone.now)),
                ("cleared_at", models.DateTimeField(blank=True, null=True)),
                ("cleared_by", models.CharField(blank=True, max_length=150)),
            ],
            options={
                "verbose_name_plural": "undeliverable addresses",
                "ordering": ["-since"],
                "permissions": [
                    ("clear_undeliverableaddress", "Can clear undeliverable address marks")
                ],
            },
        ),
        migrations.RemoveConstraint(
            model_name="emaildelivery",
            name="email_delivery_status_valid",
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="period",
            field=models.CharField(blank=True, db_index=True, max_length=7),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="readdressed",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="[{old, new, at, by}]: each time it was sent on to the user's new address.",
            ),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="resend_key",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="emaildelivery",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="email_deliveries",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="emaildelivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("sending", "Sending"),
                    ("retrying", "Waiting to retry"),
                    ("unconfirmed", "Outcome unknown (may have left)"),
                    ("sent", "Sent (accepted by the provider)"),
                    ("delivered", "Delivered"),
                    ("deferred", "Deferred by the receiving server"),
                    ("bounced", "Bounced"),
                    ("complained", "Marked as spam"),
                    ("rejected", "Rejected by the provider"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled by an operator"),
                    ("held", "Held: the address is undeliverable"),
                ],
                db_index=True,
                default="queued",
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="emaildelivery",
            index=models.Index(fields=["period", "status"], name="delivery_period_status"),
        ),
        migrations.AddConstraint(
            model_name="emaildelivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "queued",
                            "sending",
                            "retrying",
                            "unconfirmed",
                            "sent",
                            "delivered",
                            "deferred",
                            "bounced",
                            "complained",
                            "rejected",
                            "failed",
                            "cancelled",
                            "held",
                        ],
                    )
                ),
                name="email_delivery_status_valid",
            ),
        ),
        migrations.AddField(
            model_name="undeliverableaddress",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                help_text="The email whose bounce, complaint or refusal marked it.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="mailing.emaildelivery",
            ),
        ),
        migrations.AddConstraint(
            model_name="undeliverableaddress",
            constraint=models.UniqueConstraint(
                condition=models.Q(("cleared_at__isnull", True)),
                fields=("email",),
                name="one_open_mark_per_address",
            ),
        ),
    ]
