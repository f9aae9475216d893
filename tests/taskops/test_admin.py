"""The failed-task admin (apps.taskops.admin): what it lists, which actions it offers to
whom, and a retry that may send a second copy asks first."""

import json
import re

import pytest
from celery.utils import uuid
from django.urls import reverse
from django_celery_results.models import TaskResult

from apps.mailing.models import EmailDelivery
from apps.taskops.errors import AlreadyRetried
from apps.taskops.models import TaskRetry
from apps.taskops.services import retry_failed_task
from tests.factories import UserFactory
from tests.support.admin import offered_actions, staff_user
from tests.support.owed_work import failed_send_result, new_delivery

Status = EmailDelivery.Status
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
EMAIL = "apps.mailing.tasks.send_email_delivery"
CHANGELIST = "/admin/django_celery_results/taskresult/"
# Session, user, the page's rows, its counts, the work's deliveries and users, and the
# admin's own reads (the log, the filters' choices): the same for any page size.
QUERIES_PER_PAGE = 13


@pytest.mark.django_db
def test_the_admin_asks_before_retrying_an_unconfirmed_delivery(admin_client, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "apps.mailing.tasks.send_email_delivery.apply_async",
        lambda *args, **kwargs: sent.append(kwargs),
    )
    delivery = new_delivery(status=Status.UNCONFIRMED, next_attempt_at=None, last_error="Timeout")
    failure = failed_send_result(delivery)
    # The failed attempt was the last to claim it: the failure still needs someone.
    EmailDelivery.objects.filter(pk=delivery.pk).update(sending_task_id=failure.task_id)
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
def test_the_task_results_list_shows_whom_a_task_was_for_its_queue_and_error(admin_client):
    manager = UserFactory(username="maria", first_name="Maria", last_name="Ivanova")
    TaskResult.objects.create(
        task_id="0123456789abcdef-failed",
        task_name=REPORT_TASK,
        status="FAILURE",
        meta=json.dumps({"queue": "reports", "args": [manager.pk, "2025-09"], "kwargs": {}}),
        result=json.dumps({"exc_type": "ReportRequestError", "exc_message": ["no address"]}),
    )
    TaskResult.objects.create(
        task_id="fedcba9876543210-other",
        task_name="apps.other.tasks.something",
        status="SUCCESS",
        meta=json.dumps({"queue": "q", "args": [7, "x"], "kwargs": {"flag": True}}),
    )

    page = admin_client.get(CHANGELIST).content.decode()

    assert "01234567" in page and "generate_and_send_commission_report" in page
    assert ">report for Maria Ivanova, 2025-09<" in page
    assert ">reports<" in page
    assert "ReportRequestError: [&#x27;no address&#x27;]" in page
    # A task the list knows nothing about shows its arguments as they were.
    assert "7, &quot;x&quot;, flag=true" in page


@pytest.mark.django_db
def test_failures_already_handled_are_hidden_until_asked_for(admin_client):
    needs = new_delivery("needs", status=Status.FAILED, next_attempt_at=None)
    sent = new_delivery("sent", status=Status.FAILED, next_attempt_at=None)
    open_failure = failed_send_result(needs)
    settled = failed_send_result(sent)
    EmailDelivery.objects.filter(pk=needs.pk).update(sending_task_id=open_failure.task_id)
    EmailDelivery.objects.filter(pk=sent.pk).update(
        sending_task_id=settled.task_id, status=Status.DELIVERED
    )
    retried = failed_send_result(needs)
    TaskRetry.objects.create(
        original_task_id=retried.task_id, new_task_id="n" * 36, task_name=EMAIL, retried_by_name="t"
    )
    success = TaskResult.objects.create(task_id=uuid(), task_name=EMAIL, status="SUCCESS")

    default = shown(admin_client, CHANGELIST)
    everything = shown(admin_client, CHANGELIST + "?failures=all")

    assert set(default) == {open_failure.task_id[:8], success.task_id[:8]}
    assert set(everything) == {*default, settled.task_id[:8], retried.task_id[:8]}
    assert everything[settled.task_id[:8]][1] == "its email is now delivered"
    assert everything[retried.task_id[:8]][1] == f"retried as {'n' * 36} by t"
    assert everything[open_failure.task_id[:8]] == (f"email {needs.pk} to boss@example.com", "")
    # The filter says which view this is.
    page = admin_client.get(CHANGELIST).content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?">Still needing someone</a>', page)


@pytest.mark.django_db
@pytest.mark.parametrize("size", [2, 20])
def test_the_task_results_page_costs_the_same_queries_whatever_its_size(
    admin_client, size, django_assert_max_num_queries
):
    for i in range(size):
        manager = UserFactory(username=f"manager{i}")
        delivery = new_delivery(f"d{i}", status=Status.FAILED, user=manager, period="2025-09")
        failure = failed_send_result(delivery)
        EmailDelivery.objects.filter(pk=delivery.pk).update(sending_task_id=failure.task_id)
        TaskResult.objects.create(
            task_id=uuid(),
            task_name=REPORT_TASK,
            status="FAILURE",
            meta=json.dumps({"args": [manager.pk, "2025-09"], "kwargs": {}}),
        )

    with django_assert_max_num_queries(QUERIES_PER_PAGE):
        page = admin_client.get(CHANGELIST + "?failures=all").content.decode()

    assert page.count(f"{manager}, 2025-09") == 2


@pytest.mark.django_db
@pytest.mark.parametrize("size", [2, 20])
def test_the_retries_list_names_the_work_in_the_same_queries_whatever_its_size(
    admin_client, size, django_assert_max_num_queries
):
    for i in range(size):
        manager = UserFactory(username=f"manager{i}", first_name="Maria", last_name=f"N{i}")
        TaskRetry.objects.create(
            original_task_id=uuid(),
            new_task_id=uuid(),
            task_name=REPORT_TASK,
            args=[manager.pk, "2025-09"],
            retried_by_name="t",
        )

    with django_assert_max_num_queries(QUERIES_PER_PAGE):
        page = admin_client.get(reverse("admin:taskops_taskretry_changelist")).content.decode()

    assert f">report for Maria N{size - 1}, 2025-09<" in page


def shown(client, url: str) -> dict[str, tuple[str, str]]:
    """The list's rows: {short task id: (its "for" column, its "handled" column)}."""
    response = client.get(url)
    changelist = response.context["cl"]
    return {
        row.task_id[:8]: (changelist.model_admin.work(row), changelist.model_admin.handling(row))
        for row in changelist.result_list
    }


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


@pytest.mark.django_db
def test_a_task_results_page_says_whom_it_was_for_and_whether_it_is_handled(client):
    manager = UserFactory(username="maria", first_name="Maria", last_name="Ivanova")
    delivery = new_delivery(status=Status.DELIVERED, user=manager, period="2025-09")
    failure = failed_send_result(delivery)
    client.force_login(staff_user("django_celery_results.view_taskresult"))

    page = client.get(reverse("admin:django_celery_results_taskresult_change", args=[failure.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert f"email {delivery.pk} to boss@example.com (Maria Ivanova, 2025-09)" in content
    assert "its email is now delivered" in content
    assert 'name="_save"' not in content
