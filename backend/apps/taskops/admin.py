import json

from celery import states
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from core.admin_confirm import confirmation_page, confirmed
from core.admin_records import KeptRecordAdmin

# Registers the periodic tasks admin (django-celery-beat's, with permissions and a log).
from . import schedule_admin  # noqa: F401
from .arguments import decode_json, stored_arguments
from .errors import ArgumentsUnavailable, NeedsConfirmation, RetryRefused
from .models import TaskRetry
from .services import retry_failed_task

# django-celery-results registers its own admin for task results; this one adds the
# retry action and shows what each failure was retried as.
admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class RetryableTaskResultAdmin(TaskResultAdmin):
    # What an operator needs on one line at 1400 px: which task, for whom (its
    # arguments), on which queue, how it ended and why; the full record is one click away.
    list_display = (
        "short_id",
        "short_name",
        "arguments",
        "queue",
        "status",
        "error",
        "date_done",
        "worker",
        "retried_as",
    )
    list_display_links = ("short_id",)
    actions = ["retry_failed_tasks"]

    @admin.display(description="task", ordering="task_id")
    def short_id(self, obj) -> str:
        return obj.task_id[:8]

    @admin.display(description="name", ordering="task_name")
    def short_name(self, obj) -> str:
        return (obj.task_name or "").rsplit(".", 1)[-1]

    @admin.display(description="arguments")
    def arguments(self, obj) -> str:
        try:
            args, kwargs = stored_arguments(obj)
        except ArgumentsUnavailable:
            return "?"
        shown = [json.dumps(arg) for arg in args]
        shown += [f"{name}={json.dumps(value)}" for name, value in kwargs.items()]
        return ", ".join(shown)

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
        retries = TaskRetry.objects.filter(original_task_id=OuterRef("task_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(retried_as_id=Subquery(retries.values("new_task_id")[:1]))
        )

    @admin.display(description="retried as", ordering="retried_as_id")
    def retried_as(self, obj):
        return obj.retried_as_id or "-"

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
class TaskRetryAdmin(KeptRecordAdmin):
    """Who retried which failure; never deleted, not even by a superuser: the row is
    what stops the same failure being retried twice."""

    list_display = ["task_name", "original_task_id", "new_task_id", "retried_by_name", "retried_at"]
    list_filter = ["task_name", "retried_at"]
    search_fields = ["original_task_id", "new_task_id", "task_name", "retried_by_name"]
    date_hierarchy = "retried_at"
