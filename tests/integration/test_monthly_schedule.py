"""The monthly schedule on real workers: fired twice, it builds and emails each manager's
report once."""

import pytest
from django_celery_results.models import TaskResult

from apps.commission.models import CommissionReport
from apps.commission.periods import default_period
from apps.commission.tasks import send_monthly_commission_reports
from apps.mailing.models import EmailDelivery
from tests.support.reports import make_managers
from tests.support.waiting import wait_for

GENERATE_TASK = "apps.commission.tasks.generate_and_send_commission_report"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_schedule_firing_twice_on_real_workers_builds_each_report_once(worker_pool):
    worker_pool.ensure("reports")
    worker_pool.ensure("email")
    managers = make_managers(3)
    period = str(default_period())

    fired = [send_monthly_commission_reports.delay(period) for _ in range(2)]
    outcomes = [result.get(timeout=60) for result in fired]

    assert sorted(outcome["queued"] for outcome in outcomes) == [0, 3]
    wait_for(
        lambda: EmailDelivery.objects.filter(status=EmailDelivery.Status.SENT).count() == 3,
        timeout=60,
        what="the three report emails",
    )
    report_tasks = TaskResult.objects.filter(task_name=GENERATE_TASK)
    assert report_tasks.count() == 3
    assert all(row.status == "SUCCESS" for row in report_tasks)
    assert sorted(CommissionReport.objects.values_list("manager_id", flat=True)) == managers
