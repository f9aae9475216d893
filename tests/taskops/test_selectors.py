"""Which failures still need someone (apps.taskops.selectors), from real TaskResult rows,
and what each task was doing in words, in a constant number of queries."""

import datetime as dt
import json

import pytest
from celery import states
from celery.utils import uuid
from django.utils import timezone
from django_celery_results.models import TaskResult

from apps.commission.models import ReportRequest
from apps.mailing.models import EmailDelivery
from apps.taskops.arguments import stored_call
from apps.taskops.models import TaskRetry
from apps.taskops.selectors import (
    EMAIL_TASK,
    MONTHLY_TASK,
    REPORT_TASK,
    describe_work,
    failed_results,
    why_handled,
)
from tests.factories import UserFactory
from tests.support.owed_work import new_delivery

pytestmark = pytest.mark.django_db

Status = EmailDelivery.Status
RECONCILE_TASK = "apps.mailing.tasks.reconcile_deliveries"


def result(name: str, *args, status=states.FAILURE, kwargs=None, at=None, **fields) -> TaskResult:
    """A stored result as core.celery records it: the arguments as JSON in its meta."""
    stored = TaskResult.objects.create(
        task_id=uuid(),
        task_name=name,
        status=status,
        meta=json.dumps({"queue": "q", "args": list(args), "kwargs": kwargs or {}}),
        **fields,
    )
    if at is not None:  # date_done is set on every save
        TaskResult.objects.filter(pk=stored.pk).update(date_done=at)
        stored.refresh_from_db()
    return stored


def needing_someone() -> set[str]:
    return set(failed_results().values_list("task_id", flat=True))


def failed_email(delivery: EmailDelivery, **kwargs) -> TaskResult:
    """A send task that failed for `delivery`, having claimed it (as a real one does)."""
    failure = result(EMAIL_TASK, delivery.pk, **kwargs)
    EmailDelivery.objects.filter(pk=delivery.pk).update(sending_task_id=failure.task_id)
    return failure


def test_a_failed_email_needs_someone_until_its_delivery_moves_on():
    delivery = new_delivery(status=Status.FAILED, next_attempt_at=None)
    failure = failed_email(delivery)

    assert needing_someone() == {failure.task_id}

    for status, next_attempt_at in [
        (Status.QUEUED, timezone.now()),
        (Status.SENT, None),
        (Status.DELIVERED, None),
        (Status.CANCELLED, None),
        (Status.HELD, None),
    ]:
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            status=status, next_attempt_at=next_attempt_at
        )
        assert needing_someone() == set(), status


def test_a_failure_superseded_by_a_later_attempt_leaves_that_attempt_to_act_on():
    delivery = new_delivery(status=Status.FAILED, next_attempt_at=None)
    first = failed_email(delivery)
    second = failed_email(delivery)  # sent again, and failed again: it claimed the row

    assert needing_someone() == {second.task_id}
    assert reasons()[first.task_id] == f"its email's latest attempt is task {second.task_id}"


def test_an_unconfirmed_email_with_no_attempt_left_needs_someone_one_still_due_does_not():
    delivery = new_delivery(status=Status.UNCONFIRMED, next_attempt_at=None)
    failure = failed_email(delivery)

    assert needing_someone() == {failure.task_id}

    EmailDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert needing_someone() == set()
    assert reasons()[failure.task_id] == "its email is now outcome unknown (may have left)"


@pytest.mark.parametrize(
    "meta",
    [
        {"args": [987654], "kwargs": {}},  # no such delivery
        {"args": ["13; DROP TABLE x"], "kwargs": {}},
        {"args": [10**30], "kwargs": {}},
        {"args": [None], "kwargs": {}},
        {"args": [], "kwargs": {}},
        {"args": [{"delivery_id": 1}], "kwargs": {}},
        {"queue": "email"},  # no arguments recorded
        None,
    ],
)
def test_a_failure_whose_arguments_name_no_delivery_is_shown_and_breaks_nothing(meta):
    new_delivery(status=Status.SENT)  # a delivery that has left, for a wrong match to find
    failure = TaskResult.objects.create(
        task_id=uuid(),
        task_name=EMAIL_TASK,
        status=states.FAILURE,
        meta=None if meta is None else json.dumps(meta),
    )

    assert needing_someone() == {failure.task_id}


def test_a_failed_report_is_settled_once_its_request_is_built():
    manager = UserFactory(first_name="Maria", last_name="Ivanova")
    positional = result(REPORT_TASK, manager.pk, "2025-09")
    by_keyword = result(REPORT_TASK, kwargs={"user_id": manager.pk, "period": "2025-09"})
    copy = result(REPORT_TASK, manager.pk, "2025-09", "k1")
    other_month = result(REPORT_TASK, manager.pk, "2025-08")
    no_month = result(REPORT_TASK, manager.pk)
    request = ReportRequest.objects.create(
        manager=manager, period="2025-09", source="command", status=ReportRequest.Status.REFUSED
    )
    everything = {f.task_id for f in (positional, by_keyword, copy, other_month, no_month)}

    assert needing_someone() == everything  # refused: the address is still missing

    ReportRequest.objects.filter(pk=request.pk).update(status=ReportRequest.Status.BUILT)
    assert needing_someone() == everything - {positional.task_id, by_keyword.task_id}
    assert reasons()[positional.task_id] == "its report was built since"

    ReportRequest.objects.create(
        manager=manager, period="2025-09", resend_key="k1", source="admin", status="built"
    )
    assert needing_someone() == {other_month.task_id, no_month.task_id}


def test_a_retried_failure_is_handled_whatever_its_task():
    failure = result("apps.commission.tasks.send_monthly_commission_reports", "2025-09")
    TaskRetry.objects.create(
        original_task_id=failure.task_id,
        new_task_id="new-task",
        task_name=failure.task_name,
        retried_by_name="ops",
    )

    assert needing_someone() == set()
    assert reasons()[failure.task_id] == "retried as new-task by ops"


def test_another_task_is_settled_by_a_later_success_with_the_same_arguments():
    now = timezone.now()
    monthly = result(MONTHLY_TASK, "2025-09", at=now - dt.timedelta(hours=2))
    reconcile = result(RECONCILE_TASK, at=now - dt.timedelta(hours=2))
    # Successes that do not settle them: before the failure, other arguments, other task.
    result(MONTHLY_TASK, "2025-09", status=states.SUCCESS, at=now - dt.timedelta(hours=3))
    result(MONTHLY_TASK, "2025-08", status=states.SUCCESS, at=now)
    result(MONTHLY_TASK, kwargs={"period": "2025-09"}, status=states.SUCCESS, at=now)
    result("apps.commission.tasks.reconcile_report_requests", status=states.SUCCESS, at=now)

    assert needing_someone() == {monthly.task_id, reconcile.task_id}

    result(MONTHLY_TASK, "2025-09", status=states.SUCCESS, at=now)
    result(RECONCILE_TASK, status=states.SUCCESS, at=now)
    assert needing_someone() == set()
    assert reasons()[monthly.task_id] == "it ran again successfully since"


def test_the_filters_of_the_command_still_apply():
    old = result(MONTHLY_TASK, "2025-01", at=timezone.now() - dt.timedelta(days=2))
    new = result(MONTHLY_TASK, "2025-02")
    other = result(RECONCILE_TASK)

    since = timezone.now() - dt.timedelta(days=1)
    assert [r.task_id for r in failed_results(since=since)] == [new.task_id, other.task_id]
    assert [r.task_id for r in failed_results(task_name=MONTHLY_TASK)] == [
        old.task_id,
        new.task_id,
    ]


def test_the_work_of_each_task_in_words():
    maria = UserFactory(username="maria", first_name="Maria", last_name="Ivanova")
    original = new_delivery("original", user=maria, period="2026-11", to_email="m@example.com")
    copy = new_delivery("copy", user=maria, period="2026-11", resend_key="abc", to_email="c@x.io")
    unowned = new_delivery("old", period="2026-10", to_email="old@example.com")

    works = describe_work(
        [
            (EMAIL_TASK, [original.pk], {}),
            (EMAIL_TASK, [], {"delivery_id": copy.pk}),
            (EMAIL_TASK, [unowned.pk], {}),
            (EMAIL_TASK, [987654], {}),
            (REPORT_TASK, [maria.pk, "2026-11"], {}),
            (REPORT_TASK, [maria.pk, "2026-11", "k"], {}),
            (REPORT_TASK, [], {"user_id": maria.pk}),
            (REPORT_TASK, [987654, "2026-11"], {}),
            (MONTHLY_TASK, ["2026-11"], {}),
            (MONTHLY_TASK, [], {}),
            ("apps.other.task", [1, "x"], {"flag": True}),
            None,
        ]
    )

    assert [work.text for work in works] == [
        f"email {original.pk} to m@example.com (Maria Ivanova, 2026-11)",
        f"email {copy.pk} to c@x.io (Maria Ivanova, 2026-11, another copy)",
        f"email {unowned.pk} to old@example.com (2026-10)",
        "email 987654 (no such delivery)",
        "report for Maria Ivanova, 2026-11",
        "report for Maria Ivanova, 2026-11, another copy",
        "report for Maria Ivanova, the month before it ran",
        "report for user 987654 (no such user), 2026-11",
        "monthly reports for 2026-11",
        "monthly reports for the month before it ran",
        '1, "x", flag=true',
        "?",
    ]
    assert works[0].delivery == original


@pytest.mark.parametrize("size", [3, 30])
def test_describing_a_page_of_tasks_costs_one_query_per_model(size, django_assert_num_queries):
    calls = []
    for i in range(size):
        manager = UserFactory(username=f"m{i}")
        delivery = new_delivery(f"d{i}", user=manager, period="2026-11")
        calls += [(EMAIL_TASK, [delivery.pk], {}), (REPORT_TASK, [manager.pk, "2026-11"], {})]

    with django_assert_num_queries(2):
        works = describe_work(calls)

    assert works[-1].text == f"report for {manager}, 2026-11"
    assert works[-2].text.endswith(f"({manager}, 2026-11)")


def reasons() -> dict[str, str]:
    """Each failure's reason for needing nobody ("" if it needs someone)."""
    rows = list(failed_results(handled_too=True))
    works = describe_work(stored_call(row) for row in rows)
    return {row.task_id: why_handled(row, work) for row, work in zip(rows, works, strict=True)}
