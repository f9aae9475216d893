"""send_commission_report on real workers: the task it queues runs on the reports queue and
the email leaves."""

import json

import pytest
from django_celery_results.models import TaskResult

from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.commands import call
from tests.support.waiting import wait_for


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
@pytest.mark.parametrize("reference", ["boss", "BOSS@example.com", "id"])
def test_send_commission_report_queues_the_task_and_prints_its_id(worker_pool, reference):
    worker_pool.ensure("reports")
    worker_pool.ensure("email")
    manager = UserFactory(username="boss")
    add_rep(TeamFactory(manager=manager))
    reference = str(manager.pk) if reference == "id" else reference

    output = call("send_commission_report", "--manager", reference, "--period", "2025-09")

    assert "Queued the 2025-09 commission report for boss <boss@example.com>: task " in output
    task_id = output.strip().rsplit(" ", 1)[1]
    row = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first(),
        what="the queued task to run",
    )
    assert json.loads(row.meta)["queue"] == "reports"
    assert json.loads(row.result)["period"] == "2025-09"
    wait_for(
        lambda: EmailDelivery.objects.filter(to_email="boss@example.com", status="sent").exists(),
        what="the email to be sent",
    )
