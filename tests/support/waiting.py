"""Waiting for a condition with a timeout, instead of sleeping and hoping."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class StopWaiting(Exception):
    """Raised by a condition that can never become true (the process it waits for has
    exited): wait_for fails at once with it instead of at the timeout."""


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Call `condition` until it returns something truthy; return that, or fail at `timeout`.

    Exceptions raised by `condition` count as "not yet", except StopWaiting.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except StopWaiting:
            raise
        except Exception as exc:
            last_error = exc
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or condition}{detail}"
            )
        time.sleep(interval)
