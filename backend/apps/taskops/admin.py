from celery import states
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from core.admin_confirm import confirmation_page, confirmed
from core.admin_records import KeptRecordAdmin
from core.admin_time import short_time

# Registers the periodic tasks admin (django-celery-beat's, with permissions and a log).
from . import schedule_admin  # noqa: F401
from .arguments import decode_json, stored_call
from .errors import NeedsConfirmation, RetryRefused
from .models import TaskRetry
from .selectors import describe_work, why_handled, with_handling, without_handled_failures
from .services import retry_failed_task

# django-celery-results registers its own admin for task results; this one adds the
# retry action, says what each task was for, and hides the failures already handled.
admin.site.unregister(TaskResult)


class WorkChangeList(ChangeList):
    """The changelist, with each row's work described for the whole page at once
    (selectors.describe_work: one query per model, not one per row)."""

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)  # evaluated once: the template reuses these rows
        works = describe_work(self.model_admin.call_of(row) for row in rows)
        for row, work in zip(rows, works, strict=True):
            row.work = work


class DescribedWorkAdmin(admin.ModelAdmin):
    """A list of task calls with a "for" column: the manager and month, in words."""

    def get_changelist(self, request, **kwargs):
        return WorkChangeList

    def call_of(self, obj) -> tuple[str, list, dict] | None:
        raise NotImplementedError

    def _work(self, obj):
        if not hasattr(obj, "work"):  # a change page: one row
            obj.work = describe_work([self.call_of(obj)])[0]
        return obj.work

    @admin.display(description="for")
    def work(self, obj) -> str:
        return self._work(obj).text


class FailuresFilter(admin.SimpleListFilter):
    """Failures nobody needs to act on (selectors.with_handling) are hidden unless asked for."""

    title = "failures"
    parameter_name = "failures"

    def lookups(self, request, model_admin):
        return [("all", "Handled too (retried or settled)")]

    def choices(self, changelist):
        yield {
            "selected": self.value() != "all",
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Still needing someone",
        }
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": self.lookup_choices[0][1],
        }

    def queryset(self, request, queryset):
        return queryset if self.value() == "all" else without_handled_failures(queryset)


@admin.register(TaskResult)
class RetryableTaskResultAdmin(DescribedWorkAdmin, TaskResultAdmin):
    # What an operator needs at 1,400 px: which task, for whom and which month, on which
    # queue, how it ended, why and when, and whether that is handled; the worker (also a
    # filter) and the rest of the record are one click away.
    list_display = (
        "short_id",
        "short_name",
        "work",
        "queue",
        "status",
        "error",
        "done",
        "handling",
    )
    list_display_links = ("short_id",)
    list_filter = (FailuresFilter, *TaskResultAdmin.list_filter)
    actions = ["retry_failed_tasks"]
    # The first block of the record, with what the task was for and its handling.
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "task_id",
                    "task_name",
                    "work",
                    "periodic_task_name",
                    "status",
                    "handling",
                    "worker",
                    "content_type",
                    "content_encoding",
                ),
                "classes": ("extrapretty", "wide"),
            },
        ),
        *TaskResultAdmin.fieldsets[1:],
    )

    class Media:
        css = {"all": ["admin/task_results.css"]}

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "work", "handling"]

    def changelist_view(self, request, extra_context=None):
        # Without the admin's navigation column: it takes 300 of the 1,400 px the list's
        # columns need; the breadcrumbs still lead everywhere.
        return super().changelist_view(
            request, {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        )

    def call_of(self, obj):
        return stored_call(obj)

    @admin.display(description="task", ordering="task_id")
    def short_id(self, obj) -> str:
        return obj.task_id[:8]

    @admin.display(description="name", ordering="task_name")
    def short_name(self, obj) -> str:
        return (obj.task_name or "").rsplit(".", 1)[-1]

    @admin.display(description="queue")
    def queue(self, obj) -> str:
        meta = decode_json(obj.meta)
        return meta.get("queue") or "-" if isinstance(meta, dict) else "-"

    @admin.display(description="error")
    def error(self, obj) -> str:
        result = decode_json(obj.result)
        if obj.status != states.FAILURE or not isinstance(result, dict):
            return ""
        message = f"{result.get('exc_type', '')}: {result.get('exc_message', '')}"
        return message if len(message) <= 120 else message[:119] + "…"

    def get_queryset(self, request):
        return with_handling(super().get_queryset(request))

    @admin.display(description="done", ordering="date_done")
    def done(self, obj):
        return short_time(obj.date_done)

    @admin.display(description="handled", ordering="handled")
    def handling(self, obj) -> str:
        if obj.status != states.FAILURE:
            return ""
        return why_handled(obj, self._work(obj))

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("taskops.retry_failed_task")

    @admin.action(description="Retry selected failed tasks", permissions=["retry"])
    def retry_failed_tasks(self, request, queryset):
        retried, refused, unconfirmed = [], [], []
        for result in queryset.order_by("date_done", "pk"):
            try:
                retry = retry_failed_task(
                    result,
                    retried_by=request.user,
                    confirmed=confirmed(request, "confirm_possible_duplicates"),
                )
            except NeedsConfirmation as exc:
                unconfirmed.append((result.pk, str(exc)))
            except RetryRefused as exc:
                refused.append(str(exc))
            else:
                retried.append(f"{retry.task_name} {retry.original_task_id} -> {retry.new_task_id}")
        if unconfirmed:
            # The others went out; these wait for the operator's answer.
            self._report(request, retried, refused)
            return confirmation_page(
                self,
                request,
                action="retry_failed_tasks",
                field="confirm_possible_duplicates",
                selected=[pk for pk, _ in unconfirmed],
                title="Send possibly duplicate emails?",
                intro="Retrying these tasks may send an email its recipient already has:",
                items=[warning for _, warning in unconfirmed],
                note="With delivery tracking on, the provider's event usually settles this by "
                "itself. Send them again only if the recipient confirms that nothing arrived, "
                "or a second copy does no harm.",
                confirm_label="Yes, send again",
            )
        self._report(request, retried, refused)

    def _report(self, request, retried: list[str], refused: list[str]) -> None:
        if retried:
            self.message_user(
                request,
                f"Retried {len(retried)} task(s); follow them in Flower: " + "; ".join(retried),
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, f"Not retried: {reason}", messages.WARNING)


@admin.register(TaskRetry)
class TaskRetryAdmin(DescribedWorkAdmin, KeptRecordAdmin):
    """Who retried which failure; never deleted, not even by a superuser: the row is
    what stops the same failure being retried twice."""

    list_display = [
        "task_name",
        "work",
        "original_task_id",
        "new_task_id",
        "retried_by_name",
        "retried_at",
    ]
    list_filter = ["task_name", "retried_at"]
    search_fields = ["original_task_id", "new_task_id", "task_name", "retried_by_name"]
    date_hierarchy = "retried_at"

    def call_of(self, obj):
        return obj.task_name, list(obj.args or []), dict(obj.kwargs or {})
