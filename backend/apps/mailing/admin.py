from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin_confirm import confirmation_page, confirmed
from core.admin_email_preview import SentEmailAdmin
from core.admin_month_link import period_link
from core.admin_owed import OwedWorkFilter, age
from core.admin_records import KeptRecordAdmin
from core.admin_time import short_time

from . import resend_failed
from .cancel import PERMISSION, cancel_deliveries, plan_cancel
from .models import EmailDelivery
from .selectors import delivery_periods, owed_deliveries, stalled_deliveries
from .tasks import send_email_delivery

Status = EmailDelivery.Status


class PeriodFilter(admin.SimpleListFilter):
    """The months that have deliveries, newest first (one query)."""

    title = "month"
    parameter_name = "period"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [
            (period or self.NONE, period or "No month recorded") for period in delivery_periods()
        ]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(period="" if self.value() == self.NONE else self.value())


class OutcomeFilter(admin.SimpleListFilter):
    """The status, grouped as an operator asks about a month. A single status is taken
    too (outcome=bounced), for links that count one."""

    title = "outcome"
    parameter_name = "outcome"
    GROUPS = {
        "owed": ("Not sent yet", EmailDelivery.OWED),
        "sent": ("Sent, no news since", {Status.SENT}),
        "delivered": ("Delivered", {Status.DELIVERED}),
        "deferred": ("Deferred", {Status.DEFERRED}),
        "problem": (
            "Bounced, spam or rejected",
            {Status.BOUNCED, Status.COMPLAINED, Status.REJECTED},
        ),
        "failed": ("Failed: can be sent again", {Status.FAILED}),
        "held": ("Held: address undeliverable", {Status.HELD}),
        "cancelled": ("Cancelled", {Status.CANCELLED}),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.GROUPS.items()]

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.GROUPS:
            return queryset.filter(status__in=self.GROUPS[value][1])
        if value in Status.values:
            return queryset.filter(status=value)
        return queryset


class CopyFilter(admin.SimpleListFilter):
    """The month's own email to a manager, or a copy asked for again (a resend key)."""

    title = "copy"
    parameter_name = "copy"

    def lookups(self, request, model_admin):
        return [("original", "Original"), ("resend", "Copy asked for again")]

    def queryset(self, request, queryset):
        if self.value() == "original":
            return queryset.filter(resend_key="")
        if self.value() == "resend":
            return queryset.exclude(resend_key="")
        return queryset


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(SentEmailAdmin, KeptRecordAdmin):
    """Every email owed or sent; read-only, and never deleted: the row holds its
    idempotency key, and without it the next request for that email sends a second
    copy. An owed one an operator wants stopped is cancelled instead; a failed one is
    sent again. Its page shows the email as it was sent (SentEmailAdmin)."""

    # Whom, which month, which copy, how it went and when, within 1,400 px (the
    # subject and the provider's message id are on the delivery's page).
    list_display = [
        "number",
        "period_link",
        "manager",
        "copy",
        "to_email",
        "outcome",
        age,
        "sent",
        "tracked",
    ]
    list_display_links = ["number"]
    period_link = staticmethod(period_link)  # a link to the month's page
    list_select_related = ["user"]
    list_filter = [PeriodFilter, OutcomeFilter, CopyFilter, OwedWorkFilter, "created_at", "sent_at"]
    search_fields = [
        "to_email",
        "subject",
        "idempotency_key",
        "provider_message_id",
        "user__username",
        "user__first_name",
        "user__last_name",
    ]
    date_hierarchy = "created_at"
    exclude = SentEmailAdmin.SENT_EMAIL_RAW_FIELDS
    # What an operator reads first: how it went, to whom, for which month and manager,
    # which copy, and what went wrong; then the email; then the sending's details.
    fieldsets = [
        (
            None,
            {"fields": ["status", "to_email", "period_link", "manager_page", "copy", "last_error"]},
        ),
        ("The email", {"fields": ["subject", *SentEmailAdmin.SENT_EMAIL_FIELDS]}),
        (
            "Sending",
            {
                "fields": [
                    "attempts",
                    "next_attempt_at",
                    "sent_at",
                    "tracked_at",
                    "readdressed_lines",
                    "provider",
                    "provider_message_id",
                    "sending_since",
                    "sending_task_id",
                    "idempotency_key",
                    "metadata",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    actions = ["send_again", "cancel"]

    class Media:
        css = {"all": ["admin/email_deliveries.css"]}

    def changelist_view(self, request, extra_context=None):
        # Without the admin's navigation column: it takes 300 of the 1,400 px the list's
        # columns need; the breadcrumbs still lead everywhere.
        return super().changelist_view(
            request, {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        )

    @admin.display(description="id", ordering="pk")
    def number(self, obj) -> int:
        return obj.pk

    @admin.display(description="manager", ordering="user__last_name")
    def manager(self, obj):
        if obj.user is None:
            return "-"
        # To this manager's other emails: a link every viewer of this list may follow.
        return format_html(
            '<a href="{}?user__id__exact={}" title="Emails to this manager">{}</a>',
            reverse("admin:mailing_emaildelivery_changelist", current_app=self.admin_site.name),
            obj.user_id,
            obj.user,
        )

    @admin.display(description="manager")
    def manager_page(self, obj):
        if obj.user is None:
            return "not recorded"
        return format_html("{} ({}) · {}", obj.user, obj.user.get_username(), self.manager(obj))

    @admin.display(description="copy", ordering="resend_key")
    def copy(self, obj) -> str:
        return f"resend {obj.resend_key[:8]}" if obj.resend_key else "original"

    @admin.display(description="status", ordering="status")
    def outcome(self, obj):
        # Its attempts and, while owed, when the next one is due, under the status.
        attempts = f"{obj.attempts} attempt{'s' if obj.attempts != 1 else ''}"
        if obj.next_attempt_at and obj.status in EmailDelivery.OWED:
            return format_html(
                "{}<small>{}, next {}</small>",
                obj.get_status_display(),
                attempts,
                short_time(obj.next_attempt_at),
            )
        return format_html("{}<small>{}</small>", obj.get_status_display(), attempts)

    @admin.display(description="sent at", ordering="sent_at")
    def sent(self, obj):
        return short_time(obj.sent_at)

    @admin.display(description="tracked at", ordering="tracked_at")
    def tracked(self, obj):
        return short_time(obj.tracked_at)

    @admin.display(description="sent on to a new address")
    def readdressed_lines(self, obj):
        if not obj.readdressed:
            return "never"
        return format_html_join(
            "",
            "<div>{} → {}, {} by {}</div>",
            (
                (item.get("old"), item.get("new"), item.get("at"), item.get("by"))
                for item in obj.readdressed
            ),
        )

    def has_send_again_permission(self, request) -> bool:
        return request.user.has_perm(resend_failed.PERMISSION)

    @admin.action(
        description="Send selected failed deliveries again (asks first)", permissions=["send_again"]
    )
    def send_again(self, request, queryset):
        if confirmed(request, "confirm_send_again"):
            done = resend_failed.send_again(
                queryset, by=request.user, enqueue=send_email_delivery.delay
            )
            self._report_sent_again(request, done)
            return None
        planned = resend_failed.plan_send_again(queryset)
        if not planned.queued:
            self._report_sent_again(request, planned)  # nothing to ask about
            return None
        left = f"Left as they are: {'; '.join(planned.left_alone)}. " if planned.left_alone else ""
        return confirmation_page(
            self,
            request,
            action="send_again",
            field="confirm_send_again",
            selected=queryset.values_list("pk", flat=True),
            title=f"Send {len(planned.queued)} failed email(s) again?",
            intro=f"These {len(planned.queued)} email(s) will be queued again now:",
            items=[
                f"delivery {delivery.pk} to {delivery.to_email}: {delivery.subject} "
                f"(failed: {(delivery.last_error or 'no error recorded').splitlines()[0]})"
                for delivery in planned.queued
            ],
            note=f"{left}Each one is recorded in the admin log under your name. An email "
            "that fails again shows here as failed, with the new error.",
            confirm_label="Yes, send them again",
        )

    def _report_sent_again(self, request, done) -> None:
        if done.queued:
            self.message_user(
                request,
                f"{len(done.queued)} email delivery(ies) queued again: "
                + ", ".join(str(delivery.pk) for delivery in done.queued),
                messages.SUCCESS,
            )
        if done.left_alone:
            self.message_user(
                request, f"Not sent again: {'; '.join(done.left_alone)}.", messages.WARNING
            )

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
