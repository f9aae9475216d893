"""This process's view of the product: Django set up with the scenario's environment,
on the run's database, to configure the schedule, queue the fan-out and read the rows.

Every read here may meet a database that is restarting: a failed query closes the
connection, so that the next call opens a new one.
"""

import functools
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from tests.support.processes import BACKEND_DIR

T = TypeVar("T")

# The reconcilers issue 8 adds, each a PeriodicTask row made by a migration.
RECONCILE_TASKS = (
    "apps.mailing.tasks.reconcile_deliveries",
    "apps.commission.tasks.reconcile_report_requests",
)
RECONCILE_EVERY = 3  # seconds, instead of the product's minute
# Delivery statuses from which nothing more is owed: gone out, or given up.
FINAL = frozenset({"sent", "delivered", "deferred", "bounced", "complained", "rejected", "failed"})


def setup(env: dict[str, str]) -> None:
    """Django in this process, with the same environment as the product's processes."""
    os.environ.pop("DJANGO_READ_DOT_ENV_FILE", None)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    if str(BACKEND_DIR) not in sys.path:
        sys.path.insert(0, str(BACKEND_DIR))
    import django

    django.setup()
    import core.celery  # noqa: F401  (the product's Celery app, for .delay())


def close() -> None:
    """Drop this process's database connections (before the database is replaced)."""
    from django.db import connections

    connections.close_all()


def reconnecting(function: Callable[..., T]) -> Callable[..., T]:
    """On a database error, close the connection (it may be dead) and re-raise."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from django.db import DatabaseError, InterfaceError

        try:
            return function(*args, **kwargs)
        except (DatabaseError, InterfaceError):
            close()
            raise

    return wrapper


@reconnecting
def manager_ids() -> list[int]:
    from apps.commission.models import Team

    return sorted(set(Team.objects.values_list("manager_id", flat=True)))


@reconnecting
def speed_up_reconcilers() -> list[str]:
    """What an operator would do in the admin: run the reconcilers every few seconds.

    Returns the tasks found; the caller warns about those missing.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    entries = list(PeriodicTask.objects.filter(task__in=RECONCILE_TASKS))
    if entries:
        every, _ = IntervalSchedule.objects.get_or_create(
            every=RECONCILE_EVERY, period=IntervalSchedule.SECONDS
        )
        for entry in entries:
            entry.interval = every
            entry.crontab = entry.solar = entry.clocked = None
            entry.enabled = True
            entry.save()
        PeriodicTasks.update_changed()
    return sorted({entry.task for entry in entries})


FAN_OUT_TASK = "apps.commission.tasks.send_monthly_commission_reports"


def fan_out_period() -> str:
    from apps.commission.periods import default_period

    return str(default_period())


def queue_fan_out() -> str:
    """Last month's monthly fan-out, as beat would queue it; returns the period."""
    from apps.commission.tasks import send_monthly_commission_reports

    period = fan_out_period()
    send_monthly_commission_reports.delay(period)
    return period


@reconnecting
def requeued_by_reconcilers() -> dict[str, int]:
    """How often the reconcilers queued work again in this run: report requests (their
    own count) and email deliveries (what each reconcile_deliveries run returned)."""
    from django.db.models import Sum
    from django_celery_results.models import TaskResult

    from apps.commission.models import ReportRequest

    requests = ReportRequest.objects.aggregate(total=Sum("requeues"))["total"] or 0
    results = TaskResult.objects.filter(
        task_name="apps.mailing.tasks.reconcile_deliveries", status="SUCCESS"
    ).values_list("result", flat=True)
    deliveries = sum(_requeued_in(result) for result in results)
    return {"report_requests": requests, "deliveries": deliveries}


def _requeued_in(result: str | None) -> int:
    try:
        return int(json.loads(result or "{}").get("requeued", 0))
    except (ValueError, AttributeError):
        return 0


@reconnecting
def delivery_count() -> int:
    from apps.mailing.models import EmailDelivery

    return EmailDelivery.objects.count()


@reconnecting
def owed_deliveries() -> int:
    """Deliveries that have neither left nor been given up."""
    from apps.mailing.models import EmailDelivery

    return EmailDelivery.objects.exclude(status__in=FINAL).count()


@reconnecting
def delivery_statuses() -> Counter:
    from apps.mailing.models import EmailDelivery

    return Counter(EmailDelivery.objects.values_list("status", flat=True))


@reconnecting
def where_stuck(manager_ids: list[int], period: str) -> Counter:
    """For managers the provider never heard about: how far their report got.

    The claim on a manager's monthly report is a MonthlyReportDispatch before issue 8
    and a ReportRequest (with a status) after it; whichever this code has is read.
    """
    from django.apps import apps

    from apps.commission.models import CommissionReport
    from apps.mailing.models import EmailDelivery

    claims = [
        model
        for label in ("commission.ReportRequest", "commission.MonthlyReportDispatch")
        if (model := _model(apps, label)) is not None
    ]
    states: Counter = Counter()
    for manager_id in manager_ids:
        delivery = EmailDelivery.objects.filter(
            idempotency_key=f"commission-report:{manager_id}:{period}"
        ).first()
        if delivery is not None:
            states[f"delivery {delivery.status}"] += 1
            continue
        if CommissionReport.objects.filter(manager_id=manager_id, period=period).exists():
            states["report built, no delivery"] += 1
            continue
        claim = next(
            (
                found
                for model in claims
                if (found := model.objects.filter(manager_id=manager_id, period=period).first())
            ),
            None,
        )
        if claim is None:
            states["never claimed"] += 1
        else:
            status = getattr(claim, "status", "")
            states[f"{type(claim).__name__} {status}, no report".replace(" ,", ",")] += 1
    return states


def _model(registry, label: str):
    try:
        return registry.get_model(label)
    except LookupError:
        return None
