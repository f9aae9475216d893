"""The tasks a beat entry may run, with the arguments each accepts.

A periodic task added or changed by anyone but a superuser is held to this list (the
admin form checks it, and so does running an entry now): otherwise the *change*
permission on periodic tasks would schedule any registered task with any arguments,
around the retry allow-list and the *request report* permission.
"""

import inspect
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask
from kombu.utils.json import loads

from apps.commission.periods import InvalidPeriod, parse_period
from core.celery import app


def _period(value) -> None:
    # The task's own check: None is last month, a fixed month must be YYYY-MM and past.
    try:
        parse_period(value)
    except InvalidPeriod as exc:
        raise ValueError(str(exc)) from exc


# Task name -> a check for each argument it may be given (raises ValueError). Arguments
# the task's signature takes but that have no check here cannot be set from the admin.
SCHEDULABLE_TASKS: dict[str, dict[str, Callable[[object], None]]] = {
    "apps.commission.tasks.send_monthly_commission_reports": {"period": _period},
    "apps.commission.tasks.reconcile_report_requests": {},
    "apps.mailing.tasks.reconcile_deliveries": {},
    # Beat's own entry: deletes expired task results (CELERY_RESULT_EXPIRES).
    "celery.backend_cleanup": {},
}

# Routing comes from task_routes; message headers would override the task's name
# (Celery merges them over its own), so neither may be set from the admin.
ROUTING_FIELDS = ("queue", "exchange", "routing_key")


def check_schedulable(
    *,
    task: str,
    args: str | None = "[]",
    kwargs: str | None = "{}",
    headers: str | None = "{}",
    queue: str | None = None,
    exchange: str | None = None,
    routing_key: str | None = None,
) -> None:
    """Raise ValidationError({field: message}) unless a beat entry with these values
    (the PeriodicTask fields, JSON as stored) may be scheduled by a non-superuser."""
    if task not in SCHEDULABLE_TASKS:
        raise ValidationError(
            {
                "task": f"{task!r} is not a task that may be scheduled; choose one of "
                f"{', '.join(sorted(SCHEDULABLE_TASKS))}"
            }
        )
    errors = {}
    routing = {"queue": queue, "exchange": exchange, "routing_key": routing_key}
    for field, value in routing.items():
        if value:
            errors[field] = "leave this empty: the task's queue comes from its route"
    if _json(headers, {}) != {}:
        errors["headers"] = "leave this {}: message headers would override the task"
    errors.update(_argument_errors(task, _json(args, []), _json(kwargs, {})))
    if errors:
        raise ValidationError(errors)


def check_entry(entry: PeriodicTask) -> None:
    """check_schedulable for a stored (or unsaved) entry."""
    check_schedulable(
        task=entry.task,
        args=entry.args,
        kwargs=entry.kwargs,
        headers=entry.headers,
        **{field: getattr(entry, field) for field in ROUTING_FIELDS},
    )


def _argument_errors(task_name: str, args, kwargs) -> dict[str, str]:
    if not isinstance(args, list):
        return {"args": 'must be a JSON list, like [] or ["2025-09"]'}
    if not isinstance(kwargs, dict):
        return {"kwargs": 'must be a JSON object, like {} or {"period": "2025-09"}'}
    # Task modules are imported on demand (autodiscovery); make sure they are.
    app.loader.import_default_modules()
    task = app.tasks.get(task_name)
    if task is None:
        return {"task": f"{task_name!r} is not a registered task (renamed or removed?)"}
    # The parameters, without the return annotation: what an operator's message needs.
    signature = inspect.signature(task.run).replace(return_annotation=inspect.Signature.empty)
    short_name = task_name.rsplit(".", 1)[-1]
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        field = "kwargs" if kwargs else "args"
        return {field: f"{short_name}{signature} does not take these arguments: {exc}"}
    checks = SCHEDULABLE_TASKS[task_name]
    for position, (name, value) in enumerate(bound.arguments.items()):
        field = "args" if position < len(args) else "kwargs"
        check = checks.get(name)
        if check is None:
            return {field: f"{short_name}'s {name!r} cannot be set from a schedule"}
        try:
            check(value)
        except ValueError as exc:
            return {field: f"{name}: {exc}"}
    return {}


def _json(stored: str | None, empty):
    """A stored JSON field's value (`empty` when blank); None when it is not JSON."""
    if not stored:
        return empty
    try:
        return loads(stored)
    except ValueError:
        return None
