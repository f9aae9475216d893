"""A failed task's arguments as stored (apps.taskops.arguments): the exact JSON, or a repr
only when it is whole."""

import json

import pytest
from django_celery_results.models import TaskResult

from apps.taskops.arguments import stored_arguments
from apps.taskops.errors import ArgumentsUnavailable


@pytest.mark.parametrize(
    ("meta", "task_args", "task_kwargs", "expected"),
    [
        # Recorded by core.celery: exact JSON, preferred over the repr columns.
        (
            {"args": [7, "2025-09"], "kwargs": {"resend_key": "x"}},
            "(0,)",
            "{}",
            ([7, "2025-09"], {"resend_key": "x"}),
        ),
        # Older results: the repr, when it is whole.
        (
            {"children": []},
            "(7, '2025-09')",
            "{'resend_key': None}",
            ([7, "2025-09"], {"resend_key": None}),
        ),
    ],
)
def test_stored_arguments(meta, task_args, task_kwargs, expected):
    result = TaskResult(
        task_id="t",
        meta=json.dumps(meta),
        task_args=json.dumps(task_args),
        task_kwargs=json.dumps(task_kwargs),
    )
    assert stored_arguments(result) == expected


@pytest.mark.parametrize("task_args", ["('aaaaaaaa...',)", "(1, <object at 0x1>)", None])
def test_stored_arguments_refuses_a_shortened_or_foreign_repr(task_args):
    result = TaskResult(
        task_id="t",
        meta=json.dumps({"children": []}),
        task_args=None if task_args is None else json.dumps(task_args),
        task_kwargs=json.dumps("{}"),
    )
    with pytest.raises(ArgumentsUnavailable, match="send it again by hand"):
        stored_arguments(result)
