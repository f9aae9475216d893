"""The monthly schedule: one report task per manager and period, however often it fires.
(On real workers: tests/integration/test_monthly_schedule.py.)"""

import contextlib
import importlib
from collections import Counter

import pytest
from celery.signals import task_prerun
from django.apps import apps
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import BatchPublishError

from apps.commission.models import CommissionReport, ReportRequest
from apps.commission.periods import Period, default_period
from apps.commission.services import dispatch_monthly_reports
from apps.commission.tasks import send_monthly_commission_reports
from tests.support.reports import make_managers

GENERATE_TASK = "apps.commission.tasks.generate_and_send_commission_report"
PERIOD = Period(2025, 9)

schedule_migration = importlib.import_module(
    "apps.commission.migrations.0003_monthly_report_schedule"
)


class Recorder:
    """Stands in for the task's `delay`: remembers what would have been queued."""

    def __init__(self, fail_for: int | None = None):
        self.calls: list[tuple[int, str]] = []
        self.fail_for = fail_for

    def __call__(self, manager_id: int, period: str):
        if manager_id == self.fail_for:
            raise ConnectionError("broker unreachable")
        self.calls.append((manager_id, period))


@pytest.mark.django_db
def test_every_manager_is_queued_once_even_when_the_schedule_fires_twice():
    managers = make_managers(5)
    enqueue = Recorder()

    first = dispatch_monthly_reports(PERIOD, enqueue, chunk_size=2)
    second = dispatch_monthly_reports(PERIOD, enqueue, chunk_size=2)

    assert (first, second) == (5, 0)
    assert enqueue.calls == [(manager_id, "2025-09") for manager_id in managers]
    monthly = ReportRequest.objects.filter(period="2025-09", source=ReportRequest.Source.MONTHLY)
    assert monthly.count() == 5


@pytest.mark.django_db
def test_another_period_is_queued_again():
    managers = make_managers(2)
    enqueue = Recorder()

    dispatch_monthly_reports(PERIOD, enqueue)
    dispatch_monthly_reports(PERIOD.next(), enqueue)

    assert Counter(manager for manager, _ in enqueue.calls) == {m: 2 for m in managers}


@pytest.mark.django_db(transaction=True)
def test_a_broker_failure_loses_no_manager_the_rest_stay_owed_for_the_reconciler():
    managers = make_managers(5)
    failing = Recorder(fail_for=managers[2])

    claimed = dispatch_monthly_reports(PERIOD, failing, chunk_size=2)
    again = Recorder()
    dispatch_monthly_reports(PERIOD, again, chunk_size=2)

    # Every manager is claimed once; those not queued are owed, not lost, and a second
    # run of the schedule does not queue anyone twice.
    assert claimed == 5
    assert [manager for manager, _ in failing.calls] == managers[:2]
    assert again.calls == []
    owed = ReportRequest.objects.filter(status=ReportRequest.Status.QUEUED).order_by("manager_id")
    assert list(owed.values_list("manager_id", flat=True)) == managers


class Batches:
    """Stands in for the producer's publish batch: records what each batch held when it
    was sent, and fails the sending of batch number `fail_at` (counted from 0)."""

    def __init__(self, enqueue: Recorder, fail_at: int | None = None):
        self.enqueue = enqueue
        self.fail_at = fail_at
        self.sent: list[list[int]] = []

    @contextlib.contextmanager
    def __call__(self):
        start = len(self.enqueue.calls)
        yield
        held = [manager for manager, _ in self.enqueue.calls[start:]]
        if len(self.sent) == self.fail_at:
            self.sent.append([])
            raise BatchPublishError("Redis publish batch failed; delivery is uncertain")
        self.sent.append(held)


@pytest.mark.django_db
def test_each_chunk_is_sent_as_one_batch():
    managers = make_managers(5)
    batches = Batches(Recorder())

    assert dispatch_monthly_reports(PERIOD, batches.enqueue, chunk_size=2, batch=batches) == 5

    assert batches.sent == [managers[0:2], managers[2:4], managers[4:]]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_as_it_is_sent_leaves_its_chunk_owed_for_the_reconciler():
    managers = make_managers(5)
    batches = Batches(Recorder(), fail_at=1)

    claimed = dispatch_monthly_reports(PERIOD, batches.enqueue, chunk_size=2, batch=batches)

    # After the failure the run only claims, as when a single publish fails. The failed
    # batch may have reached the broker in part; its requests stay owed either way, and
    # the report task builds a report queued twice only once.
    assert claimed == 5
    assert batches.sent == [managers[0:2], [], []]
    owed = ReportRequest.objects.filter(status=ReportRequest.Status.QUEUED)
    assert set(owed.values_list("manager_id", flat=True)) == set(managers)


@pytest.mark.django_db
def test_the_task_fans_out_to_report_tasks_once_per_manager(celery_eager):
    managers = make_managers(3)
    ran = Counter()

    def count_report_tasks(task=None, args=None, kwargs=None, **_):
        if task.name == GENERATE_TASK:
            ran[tuple(args)] += 1

    task_prerun.connect(count_report_tasks, weak=False)
    try:
        outcomes = [send_monthly_commission_reports.delay().get() for _ in range(2)]
    finally:
        task_prerun.disconnect(count_report_tasks)

    period = str(default_period())
    assert [outcome["queued"] for outcome in outcomes] == [3, 0]
    assert ran == {(manager_id, period): 1 for manager_id in managers}
    assert CommissionReport.objects.filter(period=period).count() == 3


@pytest.mark.django_db
def test_migration_creates_one_monthly_beat_entry_and_leaves_an_edited_one_alone():
    schedule_migration.create_schedule(apps, None)
    schedule_migration.create_schedule(apps, None)

    [entry] = PeriodicTask.objects.filter(name=schedule_migration.SCHEDULE_NAME)
    assert entry.task == "apps.commission.tasks.send_monthly_commission_reports"
    assert entry.task in send_monthly_commission_reports.app.tasks
    assert entry.enabled
    crontab = entry.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month) == ("0", "6", "1")
    assert (crontab.month_of_year, crontab.day_of_week) == ("*", "*")
    assert str(crontab.timezone) == settings.TIME_ZONE

    crontab.hour = "7"
    crontab.save()
    schedule_migration.create_schedule(apps, None)
    entry.refresh_from_db()
    assert entry.crontab.hour == "7"
    assert PeriodicTask.objects.filter(name=schedule_migration.SCHEDULE_NAME).count() == 1


@pytest.mark.django_db
def test_the_monthly_entry_follows_a_changed_time_zone_and_keeps_its_edited_times(settings):
    from apps.commission.schedule import follow_time_zone

    schedule_migration.create_schedule(apps, None)
    entry = PeriodicTask.objects.get(name=schedule_migration.SCHEDULE_NAME)
    old_crontab = entry.crontab
    old_crontab.hour = "7"  # an operator's edit
    old_crontab.save()

    settings.TIME_ZONE = "Europe/Moscow"
    assert follow_time_zone() is True
    assert follow_time_zone() is False  # already there

    entry.refresh_from_db()
    assert str(entry.crontab.timezone) == "Europe/Moscow"
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_month) == (
        "0",
        "7",
        "1",
    )
    old_crontab.refresh_from_db()
    assert str(old_crontab.timezone) != "Europe/Moscow"  # a shared row is not changed
