from django.contrib import admin, messages

from core.admin_confirm import confirmation_page, confirmed
from core.admin_email_preview import SentEmailAdmin
from core.admin_owed import OwedWorkFilter, age
from core.admin_records import KeptRecordAdmin

from .cancel import PERMISSION, cancel_deliveries, plan_cancel
from .models import EmailDelivery
from .selectors import owed_deliveries, stalled_deliveries


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(SentEmailAdmin, KeptRecordAdmin):
    """Every email owed or sent; read-only, and never deleted: the row holds its
    idempotency key, and without it the next request for that email sends a second
    copy. An owed one an operator wants stopped is cancelled instead. Its page shows the
    email as it was sent (SentEmailAdmin)."""

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
    exclude = SentEmailAdmin.SENT_EMAIL_RAW_FIELDS
    readonly_fields = [
        "idempotency_key",
        "to_email",
        "subject",
        *SentEmailAdmin.SENT_EMAIL_FIELDS,
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

    actions = ["cancel"]

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm(PERMISSION)

    @admin.action(description="Cancel selected deliveries (asks first)", permissions=["cancel"])
    def cancel(self, request, queryset):
        if confirmed(request, "confirm_cancel"):
            self._report(request, cancel_deliveries(queryset, by=request.user))
            return None
        planned = plan_cancel(queryset)
        if not planned.cancelled:
            self._report(request, planned)  # nothing to ask about: only the refusals
            return None
        left = f"Left as they are: {', '.join(planned.refused)}. " if planned.refused else ""
        return confirmation_page(
            self,
            request,
            action="cancel",
            field="confirm_cancel",
            selected=queryset.values_list("pk", flat=True),
            title=f"Cancel {len(planned.cancelled)} email delivery(ies)?",
            intro=f"These {len(planned.cancelled)} email(s) will not be sent, now or later:",
            items=[
                f"delivery {delivery.pk} to {delivery.to_email}: {delivery.subject} "
                f"({delivery.get_status_display().lower()})"
                for delivery in planned.cancelled
            ],
            note=f"{left}Each one is recorded in the admin log under your name. A cancelled "
            "email stays cancelled; to send a report after all, use 'Email another copy' "
            "on its team.",
            confirm_label="Yes, cancel them",
        )

    def _report(self, request, done) -> None:
        if done.cancelled:
            self.message_user(
                request, f"{len(done.cancelled)} email delivery(ies) cancelled.", messages.SUCCESS
            )
        if done.refused:
            self.message_user(
                request, f"Not cancelled: {', '.join(done.refused)}.", messages.WARNING
            )

    # OwedWorkFilter's two choices.
    def owed(self):
        return owed_deliveries()

    def stalled(self):
        return stalled_deliveries()


from . import address_admin  # noqa: E402,F401
