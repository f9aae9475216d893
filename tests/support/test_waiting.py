"""Waiting for something a test started (tests/support/waiting.py)."""

import pytest

from tests.support.waiting import StopWaiting, wait_for


def test_waiting_for_a_process_that_exited_fails_at_once():
    calls = []

    def exited():
        calls.append(1)
        raise StopWaiting("worker exited: ImportError")

    with pytest.raises(StopWaiting, match="ImportError"):
        wait_for(exited, timeout=30)
    assert len(calls) == 1  # given up at once, not asked again until the timeout
