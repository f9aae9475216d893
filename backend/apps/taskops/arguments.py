"""The arguments a stored task result was called with."""

import ast
import json

from django_celery_results.models import TaskResult

from .errors import ArgumentsUnavailable


def stored_arguments(result: TaskResult) -> tuple[list, dict]:
    """(args, kwargs) exactly as the task received them.

    core.celery records them as JSON in the result's meta. Results without them (stored
    before that, or failures the worker's main process recorded, such as a hard time
    limit) fall back to the task_args/task_kwargs columns, which hold a repr.
    """
    meta = decode_json(result.meta)
    if isinstance(meta, dict) and isinstance(meta.get("args"), list):
        kwargs = meta.get("kwargs")
        if isinstance(kwargs, dict):
            return meta["args"], kwargs
    args = _from_repr(result, result.task_args, (list, tuple), "arguments")
    kwargs = _from_repr(result, result.task_kwargs, (dict,), "keyword arguments")
    return list(args), dict(kwargs)


def stored_call(result: TaskResult) -> tuple[str, list, dict] | None:
    """(task name, args, kwargs) of the result; None when its arguments are unknown."""
    try:
        args, kwargs = stored_arguments(result)
    except ArgumentsUnavailable:
        return None
    return result.task_name or "", args, kwargs


def decode_json(stored: str | None):
    """A stored JSON column's value; None when empty or not JSON."""
    try:
        return json.loads(stored) if stored else None
    except ValueError:
        return None


def _from_repr(result: TaskResult, stored: str | None, types: tuple, what: str):
    value = decode_json(stored)
    if isinstance(value, str):
        # Celery shortens long or deeply nested values in the repr with "...": such a
        # repr may still parse, into the wrong arguments.
        if "..." in value:
            value = None
        else:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
    if not isinstance(value, types):
        raise ArgumentsUnavailable(
            f"task {result.task_id} has no usable record of its {what} "
            f"(stored: {stored!r}); send it again by hand"
        )
    return value
