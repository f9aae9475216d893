from django import forms
from django.core.exceptions import ValidationError
from django_celery_beat.admin import PeriodicTaskForm

from .schedulable import ROUTING_FIELDS, SCHEDULABLE_TASKS, check_schedulable


class ScheduleForm(PeriodicTaskForm):
    """django-celery-beat's periodic task form, held to the schedulable tasks."""

    # The admin sets this per request: only a superuser may schedule anything else.
    held_to_allow_list = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.held_to_allow_list:
            choices = [("", ""), *((name, name) for name in sorted(SCHEDULABLE_TASKS))]
            self.fields["regtask"].widget = forms.Select(choices=choices)

    def clean(self):
        data = super().clean()
        # A field whose own check failed has its error already, and no value to check.
        checked = ("args", "kwargs", "headers", *ROUTING_FIELDS)
        if self.held_to_allow_list and all(name in data for name in checked):
            try:
                check_schedulable(task=data["task"], **{name: data[name] for name in checked})
            except ValidationError as exc:
                for field, errors in exc.error_dict.items():
                    # The task came from the list or was typed in: the error goes there.
                    if field == "task" and data.get("regtask"):
                        field = "regtask"
                    self.add_error(field, errors)
        return data
