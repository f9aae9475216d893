"""Sending a failed task again with the same arguments, to the queue its route gives."""

from dataclasses import dataclass

from celery import Task, states
from celery.utils import uuid
from django.db import IntegrityError, transaction
from django_celery_results.models import TaskResult

from core.celery import app

from .arguments import stored_arguments
from .errors import AlreadyRetried, NeedsConfirmation, NotFailed, NotRetryable, UnknownTask
from .models import TaskRetry

# Only the product's own tasks may be sent again, never `celery.*` or whatever name a
# forged or foreign result row carries: a retry runs the task with the row's arguments.
RETRYABLE_TASKS = frozenset(
    {
        "apps.commission.tasks.generate_and_send_commission_report",
        "apps.commission.tasks.send_monthly_commission_reports",
        "apps.mailing.tasks.send_email_delivery",
    }
)


@dataclass(frozen=True)
class RetryPlan:
    task: Task
    args: list
    kwargs: dict
    # What retrying may repeat (an email that may already have arrived), from the
    # task's own `operator_retry_risk(args, kwargs)`; "" when nothing.
    warning: str = ""


def plan_retry(result: TaskResult) -> RetryPlan:
    """What retrying this result would send; raises RetryRefused if it may not be retried."""
    if result.status != states.FAILURE:
        raise NotFailed(
            f"task {result.task_id} is {result.status}, not {states.FAILURE}: "
            "only failed tasks are retried"
        )
    previous = TaskRetry.objects.filter(original_task_id=result.task_id).first()
    if previous is not None:
        raise AlreadyRetried(
            f"task {result.task_id} was already retried as {previous.new_task_id} "
            f"by {previous.retried_by_name} at {previous.retried_at:%Y-%m-%d %H:%M:%S %Z}; "
            "retry that task if it failed too"
        )
    if result.task_name not in RETRYABLE_TASKS:
        raise NotRetryable(
            f"task {result.task_id} is {result.task_name!r}, which is not one of the tasks "
            f"that may be retried ({', '.join(sorted(RETRYABLE_TASKS))})"
        )
    # Task modules are imported on demand (autodiscovery); make sure they are.
    app.loader.import_default_modules()
    task = app.tasks.get(result.task_name or "")
    if task is None:
        raise UnknownTask(
            f"task {result.task_id} is {result.task_name!r}, which is not a registered task "
            "(renamed or removed?): it cannot be retried"
        )
    args, kwargs = stored_arguments(result)
    risk = getattr(task, "operator_retry_risk", None)
    warning = risk(args, kwargs) if risk else ""
    return RetryPlan(task=task, args=args, kwargs=kwargs, warning=warning)


def retry_failed_task(
    result: TaskResult, *, retried_by=None, retried_by_name: str = "", confirmed: bool = False
) -> TaskRetry:
    """Send a failed task again and record who did it; raises RetryRefused if it may not be.

    A retry that may repeat what already happened (the plan's warning) is refused with
    NeedsConfirmation unless `confirmed`: the operator has read the warning and accepts it.

    The new task goes through `apply_async`, so `task_routes` picks its queue as for
    any other call. Tasks must be safe to run again (ours are: a report is built and
    emailed once per manager and period, an email delivery is sent once).
    """
    plan = plan_retry(result)
    if plan.warning and not confirmed:
        raise NeedsConfirmation(f"task {result.task_id}: {plan.warning} Confirm to send it again.")
    new_task_id = uuid()
    who = retried_by_name or (retried_by.get_username() if retried_by else "unknown")
    with transaction.atomic():
        try:
            retry = TaskRetry.objects.create(
                original_task_id=result.task_id,
                new_task_id=new_task_id,
                task_name=plan.task.name,
                args=plan.args,
                kwargs=plan.kwargs,
                retried_by=retried_by,
                retried_by_name=who,
            )
        except IntegrityError as exc:
            # Someone else retried it between the check above and now.
            raise AlreadyRetried(f"task {result.task_id} was already retried") from exc
        if plan.warning:
            plan.task.accept_operator_retry_risk(plan.args, plan.kwargs, accepted_by=who)
        # Sent inside the transaction: if the broker refuses it, no retry is recorded.
        plan.task.apply_async(args=plan.args, kwargs=plan.kwargs, task_id=new_task_id)
    return retry
