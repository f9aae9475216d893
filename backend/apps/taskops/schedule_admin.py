"""The periodic tasks admin: each action behind its permission and in the admin log.

django-celery-beat's own admin offers all four actions to anyone who may view periodic
tasks, writes them with queryset.update() (no admin log), and lets whoever may add or
change an entry schedule any registered task with any arguments.
"""

import logging

from celery.utils import uuid
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerError

from .forms import ScheduleForm
from .schedulable import check_entry
from .schedules import NotRunnable, run_now, set_enabled

logger = logging.getLogger(__name__)

admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    form = ScheduleForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # A new class each request (modelform_factory): safe to set for this user.
        form.held_to_allow_list = not request.user.is_superuser
        return form

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("taskops.run_scheduled_task")

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        self._switch(request, queryset, lambda entry: True, "Enable selected tasks")

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        self._switch(request, queryset, lambda entry: False, "Disable selected tasks")

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        self._switch(
            request, queryset, lambda entry: not entry.enabled, "Toggle activity of selected tasks"
        )

    def _switch(self, request, queryset, enabled_after, action: str) -> None:
        switched, unchanged = [], []
        for entry in queryset.order_by("name"):
            enabled = enabled_after(entry)
            if enabled and not self._may_schedule(request, entry, "Not enabled"):
                continue
            with transaction.atomic():
                if not set_enabled(entry.pk, enabled):
                    unchanged.append(entry.name)
                    continue
                verb = "Enabled" if enabled else "Disabled"
                self.log_change(request, entry, f"{verb} with the action '{action}'")
            switched.append(f"{entry.name} ({verb.lower()})")
        if switched:
            self.message_user(request, f"Switched {len(switched)}: " + "; ".join(switched))
        if unchanged:
            self.message_user(request, "Already so, unchanged: " + "; ".join(unchanged))

    @admin.action(description="Run selected tasks now", permissions=["run"])
    def run_tasks(self, request, queryset):
        who = request.user.get_username()
        ran = []
        for entry in queryset.order_by("name"):
            if not self._may_schedule(request, entry, "Not run"):
                continue
            task_id = uuid()
            try:
                # Logged first, sent last: the log keeps a run only if the broker took it.
                with transaction.atomic():
                    self.log_change(
                        request, entry, f"Ran now by {who}: {entry.task} sent as task {task_id}"
                    )
                    run_now(entry, task_id)
            except (NotRunnable, BrokerError) as exc:
                self.message_user(request, f"Not run: {entry.name}: {exc}", messages.ERROR)
                continue
            logger.info("Periodic task %r run now by %s as task %s", entry.name, who, task_id)
            ran.append(f"{entry.name} -> {task_id}")
        if ran:
            self.message_user(
                request, f"Ran {len(ran)} now; follow them in Flower: " + "; ".join(ran)
            )

    def _may_schedule(self, request, entry, refusal: str) -> bool:
        """Whether this user may make beat (or anyone) run the entry as it stands: a
        superuser may; anyone else only an entry the allow-list accepts."""
        if request.user.is_superuser:
            return True
        try:
            check_entry(entry)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(m)}" for field, m in exc.message_dict.items())
            self.message_user(request, f"{refusal}: {entry.name}: {problems}", messages.WARNING)
            return False
        return True
