"""The admin of addresses marked undeliverable: read-only records, and one action that
clears a mark and sends the emails it held (apps.mailing.undeliverable.clear_mark).

The action is `clear_marks` on admin:mailing_undeliverableaddress_changelist: a POST of
action=clear_marks&_selected_action=<mark id> there shows its confirmation page, as
another page's button may do.
"""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin_confirm import confirmation_page, confirmed
from core.admin_records import KeptRecordAdmin

from .models import UndeliverableAddress
from .tasks import send_email_delivery
from .undeliverable import PERMISSION, clear_mark, plan_clear


class MarkStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open: emails to it are held"), ("cleared", "Cleared")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


@admin.register(UndeliverableAddress)
class UndeliverableAddressAdmin(KeptRecordAdmin):
    """Each mark, kept once cleared as the record of what happened (and who cleared it):
    changed only by clearing it, never edited or deleted."""

    list_display = ["email", "reason", "since", "state", "marked_by", "cleared_at", "cleared_by"]
    list_filter = [MarkStateFilter, "reason"]
    search_fields = ["email"]
    date_hierarchy = "since"
    list_select_related = ["delivery"]
    fields = ["email", "reason", "detail", "since", "marked_by", "cleared_at", "cleared_by"]
    readonly_fields = fields
    actions = ["clear_marks"]

    def has_clear_permission(self, request) -> bool:
        return request.user.has_perm(PERMISSION)

    @admin.display(description="state", boolean=False)
    def state(self, mark) -> str:
        return "cleared" if mark.cleared_at else "open: emails held"

    @admin.display(description="marked by (email delivery)")
    def marked_by(self, mark):
        if mark.delivery_id is None:
            return "-"
        url = reverse("admin:mailing_emaildelivery_change", args=[mark.delivery_id])
        return format_html('<a href="{}">delivery {}</a>', url, mark.delivery_id)

    @admin.action(
        description="Clear the mark and send the emails it held (asks first)",
        permissions=["clear"],
    )
    def clear_marks(self, request, queryset):
        if confirmed(request, "confirm_clear"):
            self._clear(request, queryset)
            return None
        planned = plan_clear(queryset)
        if not planned.marks:
            self._report_already_cleared(request, planned.already_cleared)
            return None
        left = (
            f"Already cleared, left as they are: {_names(planned.already_cleared)}. "
            if planned.already_cleared
            else ""
        )
        return confirmation_page(
            self,
            request,
            action="clear_marks",
            field="confirm_clear",
            selected=queryset.values_list("pk", flat=True),
            title=f"Clear {len(planned.marks)} undeliverable mark(s)?",
            intro="These addresses will be sent to again, starting with the emails they held:",
            items=[
                f"{mark.email} ({mark.get_reason_display().lower()} since "
                f"{timezone.localtime(mark.since):%Y-%m-%d}): "
                + (
                    "sends " + ", ".join(f"delivery {d.pk} ({d.subject})" for d in held)
                    if held
                    else "no email is held for it"
                )
                for mark, held in planned.marks
            ],
            note=f"{left}Clear a mark once the address works again (the provider accepts it, "
            "or the person fixed their mailbox); if the address itself is wrong, correct the "
            "user's address under Users instead, which sends their emails to the new one. "
            "Each clearing is recorded in the admin log under your name; the mark is kept "
            "as cleared.",
            confirm_label="Yes, clear and send",
        )

    def _clear(self, request, queryset) -> None:
        released, cleared, already = [], [], []
        for mark in queryset.order_by("email"):
            if mark.cleared_at is not None:
                already.append(mark)
                continue
            released += clear_mark(mark, request.user, enqueue=send_email_delivery.delay)
            # clear_mark sets cleared_at when it cleared it; not when another did first.
            (cleared if mark.cleared_at is not None else already).append(mark)
        if cleared:
            self.message_user(
                request,
                f"Cleared {_names(cleared)}; "
                + (
                    f"sending {len(released)} held email(s) now (delivery "
                    f"{', '.join(map(str, released))})."
                    if released
                    else "no email was held."
                ),
                messages.SUCCESS,
            )
        self._report_already_cleared(request, already)

    def _report_already_cleared(self, request, marks) -> None:
        if marks:
            self.message_user(request, f"Already cleared: {_names(marks)}.", messages.WARNING)


def _names(marks) -> str:
    return ", ".join(mark.email for mark in marks)
