from django.conf import settings
from django.contrib import admin, messages

from core.admin_confirm import confirmation_page, confirmed
from core.admin_email_preview import SentEmailAdmin
from core.admin_month_link import period_link
from core.admin_owed import OwedWorkFilter, age
from core.admin_records import KeptRecordAdmin

from . import payouts
from .forms import DealAddForm
from .models import Commission, CommissionReport, Deal, ReportRequest, Team, TeamMembership
from .money import format_money
from .periods import default_period
from .selectors import ended_report_email, owed_report_requests, stalled_report_requests
from .services import record_deal, request_report
from .tasks import generate_and_send_commission_report

# The admin index leads with the operator's months (apps.commission.month_admin).
admin.site.index_template = "admin/index_with_months.html"


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["rep"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "manager", "commission_rate", "created_at"]
    search_fields = ["name", "manager__username", "manager__email"]
    autocomplete_fields = ["manager"]
    inlines = [TeamMembershipInline]
    actions = ["send_last_month_report", "send_another_copy"]

    def has_request_report_permission(self, request) -> bool:
        return request.user.has_perm("commission.request_report")

    @admin.action(
        description="Email last month's commission report to the managers",
        permissions=["request_report"],
    )
    def send_last_month_report(self, request, queryset):
        period = default_period()
        managers = self._managers(queryset)
        ended = {manager: ended_report_email(manager, period) for manager in managers}
        to_send = [manager for manager in managers if ended[manager] is None]
        if to_send:
            self._request(request, to_send, period, resend=False)
        for left, what in ((True, "was already sent to"), (False, "email was cancelled for")):
            named = [
                f"{manager.username} <{manager.email}>"
                for manager in managers
                if ended[manager] is not None and ended[manager].has_left is left
            ]
            if named:
                self.message_user(
                    request,
                    f"Not queued: the {period} report {what} {', '.join(named)}. "
                    "Use 'Email another copy of last month's report' to send it again.",
                    messages.INFO,
                )

    @admin.action(
        description="Email another copy of last month's report (asks first)",
        permissions=["request_report"],
    )
    def send_another_copy(self, request, queryset):
        period = default_period()
        managers = self._managers(queryset)
        if not confirmed(request, "confirm_another_copy"):
            return confirmation_page(
                self,
                request,
                action="send_another_copy",
                field="confirm_another_copy",
                selected=queryset.values_list("pk", flat=True),
                title="Email another copy?",
                intro=f"Each of these managers gets one more email of the {period} report, "
                "whether or not it was sent before:",
                items=[
                    f"{manager.username} <{manager.email}>"
                    + self._ended_note(ended_report_email(manager, period))
                    for manager in managers
                ],
                note="The copy carries the numbers as they are now.",
                confirm_label="Yes, email another copy",
            )
        self._request(request, managers, period, resend=True)

    @staticmethod
    def _ended_note(delivery) -> str:
        if delivery is None:
            return ""
        return " (already sent)" if delivery.has_left else " (cancelled by an operator)"

    @staticmethod
    def _managers(queryset) -> list:
        managers = {team.manager for team in queryset.select_related("manager")}
        return sorted(managers, key=lambda manager: manager.pk)

    def _request(self, request, managers, period, *, resend: bool) -> None:
        outcomes = [
            request_report(
                manager,
                period,
                generate_and_send_commission_report.delay,
                source=ReportRequest.Source.ADMIN,
                requested_by=request.user.get_username(),
                resend=resend,
            )[1]
            for manager in managers
        ]
        what = "another copy of the" if resend else "the"
        self.message_user(
            request,
            f"Queued {what} {period} report for {outcomes.count(True)} manager(s); "
            "follow the tasks in Flower.",
            messages.SUCCESS,
        )
        if not all(outcomes):
            self.message_user(
                request,
                f"The Celery broker is unreachable: {outcomes.count(False)} report(s) are "
                "recorded under Report requests and will be queued within "
                f"{settings.RECONCILE_STALLED_AFTER}s of the broker coming back.",
                messages.WARNING,
            )


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin):
    list_display = ["rep", "team", "joined_on", "left_on", "rate_override"]
    list_filter = ["team"]
    search_fields = ["rep__username", "rep__first_name", "rep__last_name", "team__name"]
    autocomplete_fields = ["rep", "team"]


class CommissionInline(admin.StackedInline):
    """A deal's commission, shown on the deal; `record_deal` creates it with the deal."""

    model = Commission
    extra = 0
    # The status too: it moves only by CommissionAdmin's actions, each with its permission.
    readonly_fields = ["rep", "amount", "rate", "status", "earned_on"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    """Deals are added through `record_deal` (DealAddForm) and are read-only after: a
    change to the rep, amount or date would leave the team and commission behind."""

    list_display = ["external_ref", "rep", "team", "amount", "currency", "closed_on"]
    list_filter = ["team", "closed_on"]
    search_fields = ["external_ref", "rep__username", "rep__last_name"]
    date_hierarchy = "closed_on"
    autocomplete_fields = ["rep"]
    inlines = [CommissionInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DealAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["rep", "team", "amount", "currency", "closed_on", "external_ref"]

    def get_inlines(self, request, obj):
        # A new deal's commission is the service's to create, not the operator's.
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # DealAddForm.clean ran the same service on a rolled-back savepoint, so this
        # write passes its checks; it creates the deal, its team and its commission.
        deal = record_deal(**form.record_deal_arguments())
        # The admin goes on with `obj` (the history entry, the message, the redirect).
        obj.pk = deal.pk
        obj.refresh_from_db()

    def get_deleted_objects(self, objs, request):
        # A commission can't be deleted on its own (CommissionAdmin), but a pending one
        # goes with its deal: without this, that refusal would keep deals from being
        # deleted. An approved or paid one is money decided on: its deal stays, and the
        # admin lists it as protected.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(Commission._meta.verbose_name)
        decided = Commission.objects.filter(deal__in=objs).exclude(status=Commission.Status.PENDING)
        protected.extend(
            f"{commission.deal.external_ref}: commission {commission.get_status_display().lower()}"
            for commission in decided.select_related("deal").order_by("deal__external_ref")
        )
        return deleted, counts, perms_needed, protected


@admin.register(Commission)
class CommissionAdmin(KeptRecordAdmin):
    """Commissions come with their deal (DealAdmin) and are read-only here: the status
    moves only by the two actions, each behind its own permission (apps.commission.payouts).
    change_commission would let anyone set any status; a commission deleted without its
    deal is what the report must never see (deleting a pending deal removes both)."""

    list_display = ["deal", "rep", "amount", "rate", "status", "earned_on"]
    list_filter = ["status", "earned_on", "deal__team"]
    search_fields = ["deal__external_ref", "rep__username", "rep__last_name"]
    date_hierarchy = "earned_on"
    list_select_related = ["deal", "rep"]
    actions = ["mark_approved", "mark_paid"]

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(payouts.APPROVE.permission)

    def has_pay_permission(self, request) -> bool:
        return request.user.has_perm(payouts.PAY.permission)

    @admin.action(description="Approve selected commissions (asks first)", permissions=["approve"])
    def mark_approved(self, request, queryset):
        return self._move(
            request,
            queryset,
            payouts.APPROVE,
            action="mark_approved",
            title="Approve {count} commission(s)?",
            confirm_label="Yes, approve them",
        )

    @admin.action(description="Mark selected commissions paid (asks first)", permissions=["pay"])
    def mark_paid(self, request, queryset):
        return self._move(
            request,
            queryset,
            payouts.PAY,
            action="mark_paid",
            title="Mark {count} commission(s) paid?",
            confirm_label="Yes, mark them paid",
        )

    def _move(self, request, queryset, step, *, action: str, title: str, confirm_label: str):
        field = f"confirm_{action}"
        if confirmed(request, field):
            self._report(request, payouts.move(step, queryset, by=request.user))
            return None
        planned = payouts.plan(step, queryset)
        if not planned.moved:
            self._report(request, planned)  # nothing to ask about: only the refusals
            return None
        currency = settings.COMMISSION_CURRENCY
        left = f"Left as they are: {', '.join(planned.refused)}. " if planned.refused else ""
        return confirmation_page(
            self,
            request,
            action=action,
            field=field,
            selected=queryset.values_list("pk", flat=True),
            title=title.format(count=len(planned.moved)),
            intro=f"{len(planned.moved)} commission(s), {format_money(planned.total)} "
            f"{currency} in all, will be {step.done}:",
            items=[
                f"{commission.deal.external_ref}: {format_money(commission.amount)} {currency} "
                f"to {commission.rep}"
                for commission in planned.moved
            ],
            note=f"{left}Each one is recorded in the admin log under your name; "
            "nothing moves back.",
            confirm_label=confirm_label,
        )

    def _report(self, request, moves: payouts.Moves) -> None:
        if moves.moved:
            self.message_user(
                request,
                f"{len(moves.moved)} commission(s) {moves.step.done}, "
                f"{format_money(moves.total)} {settings.COMMISSION_CURRENCY} in all.",
                messages.SUCCESS,
            )
        if moves.refused:
            self.message_user(
                request,
                f"Not {moves.step.done}: {', '.join(moves.refused)}.",
                messages.WARNING,
            )


@admin.register(CommissionReport)
class CommissionReportAdmin(SentEmailAdmin, KeptRecordAdmin):
    """Each manager's report as it was emailed (SentEmailAdmin shows it so): read-only,
    and never deleted (it is what the email said)."""

    list_display = [period_link, "manager", "subject", "generated_at"]
    list_filter = ["period"]
    search_fields = ["manager__username", "manager__email", "subject"]
    readonly_fields = [
        "manager",
        period_link,
        "subject",
        *SentEmailAdmin.SENT_EMAIL_FIELDS,
        "data",
        "generated_at",
    ]
    exclude = SentEmailAdmin.SENT_EMAIL_RAW_FIELDS


@admin.register(ReportRequest)
class ReportRequestAdmin(KeptRecordAdmin):
    """Every report asked for, and whether it is still owed; read-only: the reconciler
    and the report task move them. Never deleted: they say who asked for which email,
    and a monthly one is what keeps the schedule from sending a manager's month twice."""

    list_display = [
        period_link,
        "manager",
        "status",
        "source",
        age,
        "queued_at",
        "requeues",
        "requested_by",
        "delivery",
    ]
    list_filter = [OwedWorkFilter, "status", "source", "period"]
    search_fields = ["manager__username", "manager__email", "requested_by"]
    list_select_related = ["manager", "delivery"]
    date_hierarchy = "created_at"
    # The period as a link to its month page; the rest as stored.
    period_link = staticmethod(period_link)
    readonly_fields = ["period_link"]
    fields = [
        "manager",
        "period_link",
        "resend_key",
        "source",
        "requested_by",
        "run_id",
        "status",
        "created_at",
        "queued_at",
        "requeues",
        "finished_at",
        "delivery",
        "last_error",
    ]

    # OwedWorkFilter's two choices.
    def owed(self):
        return owed_report_requests()

    def stalled(self):
        return stalled_report_requests()
