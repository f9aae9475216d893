from django.contrib import admin

from core.admin_owed import OwedWorkFilter, age

from .models import EmailDelivery
from .selectors import owed_deliveries, stalled_deliveries


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    """Every email owed or sent; read-only, and never deleted: the row holds its
    idempotency key, and without it the next request for that email sends a second
    copy."""

    list_display = [
        "subject",
        "to_email",
        "status",
        age,
        "attempts",
        "next_attempt_at",
        "provider_message_id",
        "sent_at",
        "tracked_at",
    ]
    list_filter = [OwedWorkFilter, "status", "created_at", "sent_at"]
    search_fields = ["to_email", "subject", "idempotency_key", "provider_message_id"]
    date_hierarchy = "created_at"
    exclude = ["body_html"]
    readonly_fields = [
        "idempotency_key",
        "to_email",
        "subject",
        "body_text",
        "attachments",
        "metadata",
        "status",
        "provider",
        "provider_message_id",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
        "next_attempt_at",
        "sending_since",
        "sending_task_id",
        "sent_at",
        "tracked_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # OwedWorkFilter's two choices.
    def owed(self):
        return owed_deliveries()

    def stalled(self):
        return stalled_deliveries()
