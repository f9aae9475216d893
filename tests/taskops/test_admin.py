"""The failed-task admin (apps.taskops.admin): what it lists, which actions it offers to
whom, and a retry that may send a second copy asks first."""

import json

import pytest
from celery.utils import uuid
from django.urls import reverse
from django_celery_results.models import TaskResult

from apps.mailing.models import EmailDelivery
from apps.taskops.errors import AlreadyRetried
from apps.taskops.models import TaskRetry
from apps.taskops.services import retry_failed_task
from tests.support.admin import offered_actions, staff_user
from tests.support.owed_work import failed_send_result, new_delivery

Status = EmailDelivery.Status
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"


@pytest.mark.django_db
def test_the_admin_asks_before_retrying_an_unconfirmed_delivery(admin_client, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent.append(kwargs),
    )
    delivery = new_delivery(status=Status.UNCONFIRMED, next_attempt_at=None, last_error="Timeout")
    failure = failed_send_result(delivery)
    changelist = "/admin/django_celery_results/taskresult/"
    action = {"action": "retry_failed_tasks", "_selected_action": [failure.pk]}

    asked = admin_client.post(changelist, action)

    assert asked.status_code == 200
    assert "a copy may already have arrived" in asked.content.decode()
    assert 'name="confirm_possible_duplicates" value="yes"' in asked.content.decode()
    assert sent == []

    confirmed = admin_client.post(changelist, {**action, "confirm_possible_duplicates": "yes"})

    assert confirmed.status_code == 302
    assert len(sent) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "action", "model_permissions", "dedicated"),
    [
        (
            "/admin/django_celery_results/taskresult/",
            "retry_failed_tasks",
            ["django_celery_results.view_taskresult", "django_celery_results.change_taskresult"],
            "taskops.retry_failed_task",
        ),
        (
            "/admin/commission/team/",
            "send_last_month_report",
            ["commission.view_team", "commission.change_team"],
            "commission.request_report",
        ),
        (
            "/admin/django_celery_beat/periodictask/",
            "run_tasks",
            ["django_celery_beat.view_periodictask", "django_celery_beat.change_periodictask"],
            "taskops.run_scheduled_task",
        ),
    ],
)
def test_admin_actions_that_send_need_their_own_permission(
    client, url, action, model_permissions, dedicated
):
    client.force_login(staff_user(*model_permissions))
    assert action not in offered_actions(client, url)

    client.force_login(staff_user(*model_permissions, dedicated))
    assert action in offered_actions(client, url)


@pytest.mark.django_db
def test_the_task_results_list_shows_arguments_queue_and_error(admin_client):
    TaskResult.objects.create(
        task_id="0123456789abcdef-failed",
        task_name="apps.commission.tasks.generate_and_send_commission_report",
        status="FAILURE",
        meta=json.dumps({"queue": "reports", "args": [7, "2025-09"], "kwargs": {}}),
        result=json.dumps({"exc_type": "ReportRequestError", "exc_message": ["no user with id 7"]}),
    )

    page = admin_client.get("/admin/django_celery_results/taskresult/").content.decode()

    assert "01234567" in page and "generate_and_send_commission_report" in page
    assert "7, &quot;2025-09&quot;" in page
    assert ">reports<" in page
    assert "ReportRequestError: [&#x27;no user with id 7&#x27;]" in page


@pytest.mark.django_db
def test_nobody_deletes_a_retry_record_from_the_admin_not_even_a_superuser(admin_client):
    """The row is what stops the same failure being retried a second time."""
    retry = TaskRetry.objects.create(
        original_task_id=uuid(), new_task_id=uuid(), task_name=REPORT_TASK, retried_by_name="t"
    )
    changelist = reverse("admin:taskops_taskretry_changelist")

    assert "delete_selected" not in offered_actions(admin_client, changelist)
    delete_page = reverse("admin:taskops_taskretry_delete", args=[retry.pk])
    assert admin_client.post(delete_page, {"post": "yes"}).status_code == 403
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [retry.pk], "post": "yes"}
    )

    assert TaskRetry.objects.filter(pk=retry.pk).exists()
    # And the failure it retried is still refused a second retry.
    failure = TaskResult.objects.create(
        task_id=retry.original_task_id, task_name=REPORT_TASK, status="FAILURE", meta="{}"
    )
    with pytest.raises(AlreadyRetried):
        retry_failed_task(failure, retried_by_name="t")
