from django.contrib import admin

from .models import EmailDelivery


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "subject",
        "to_email",
        "status",
        "attempts",
        "provider_message_id",
        "sent_at",
        "tracked_at",
    ]
    list_filter = ["status", "created_at", "sent_at"]
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
        "provider_message_id",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
        "sending_since",
        "sent_at",
        "tracked_at",
    ]

    def has_add_permission(self, request):
        return False
