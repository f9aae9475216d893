"""Task results stored in one statement (taskops.StoredTaskResult's manager, which the
result backend stores through) hold what django-celery-results' own store writes: the
same row, first write and rewrite (a retry, then its outcome)."""

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from apps.taskops.models import StoredTaskResult

pytestmark = pytest.mark.django_db

WRITES = [
    {"status": "RETRY", "result": '{"exc_type": "Retry"}', "traceback": "Traceback ..."},
    {"status": "SUCCESS", "result": '"sent"', "traceback": None},
]
ONE_STATEMENT = StoredTaskResult._default_manager
UPSTREAM = TaskResult._default_manager


def store(manager, task_id: str, write: dict, **more) -> None:
    """What django-celery-results' DatabaseBackend passes to store_result."""
    manager.store_result(
        "application/json",
        "utf-8",
        task_id,
        meta='{"queue": "email", "args": [7], "kwargs": {}}',
        periodic_task_name=None,
        task_name="apps.mailing.tasks.send_email_delivery",
        task_args="(7,)",
        task_kwargs="{}",
        worker="email@host",
        using=None,
        **write,
        **more,
    )


def row(task_id: str) -> dict:
    """Everything stored but the id and the times."""
    result = TaskResult.objects.get(task_id=task_id)
    return model_to_dict(
        result, exclude=["id", "task_id", "date_created", "date_started", "date_done"]
    )


def test_the_same_rows_as_django_celery_results_writes():
    for write in WRITES:
        store(UPSTREAM, "upstream", write)
        store(ONE_STATEMENT, "ours", write)
        assert row("ours") == row("upstream")

    assert TaskResult.objects.count() == 2
    ours, upstream = (TaskResult.objects.get(task_id=name) for name in ("ours", "upstream"))
    assert ours.date_created < ours.date_done  # the first write's, kept
    assert (ours.date_started, upstream.date_started) == (None, None)


def test_one_statement_for_a_first_write_and_for_a_rewrite():
    for write in WRITES:
        with CaptureQueriesContext(connection) as ours:
            store(ONE_STATEMENT, "counted", write)
        with CaptureQueriesContext(connection) as upstream:
            store(UPSTREAM, "counted-upstream", write)

        assert len(ours) == 1, [query["sql"] for query in ours]
        assert len(upstream) > 1


@pytest.mark.parametrize(
    "more",
    [
        pytest.param({"date_started": Now()}, id="a STARTED result's database expression"),
        pytest.param({"added_in_a_later_version": 1}, id="an argument that is no field"),
    ],
)
def test_what_it_cannot_write_goes_django_celery_results_own_way(more):
    store(UPSTREAM, "upstream", WRITES[0], **more)

    with CaptureQueriesContext(connection) as ours:
        store(ONE_STATEMENT, "ours", WRITES[0], **more)

    assert len(ours) > 1  # get_or_create's
    assert row("ours") == row("upstream")
    started = [TaskResult.objects.get(task_id=name).date_started for name in ("ours", "upstream")]
    assert [when is not None for when in started] == ["date_started" in more] * 2


@pytest.mark.parametrize("final", [*WRITES[1:], {"status": "FAILURE", "result": "{}"}])
def test_a_retry_stored_after_its_message_already_ended_leaves_the_end(final):
    """The threads pool runs a retry's message as soon as it is published, possibly to
    the end before the first run stores its RETRY: the outcome stays."""
    store(ONE_STATEMENT, "raced", final)
    store(ONE_STATEMENT, "raced", WRITES[0])

    assert TaskResult.objects.get(task_id="raced").status == final["status"]


def test_a_retry_after_a_retry_is_stored_as_usual():
    store(ONE_STATEMENT, "again", WRITES[0])
    store(ONE_STATEMENT, "again", {**WRITES[0], "traceback": "Traceback 2"})

    assert TaskResult.objects.get(task_id="again").traceback == "Traceback 2"
