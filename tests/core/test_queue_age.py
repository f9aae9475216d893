"""core/queue_age.py: every task message carries the time it was published, read back
from the JSON envelope kombu's Redis transport stores. (Real messages through a real
Redis, and the ages /metrics derives: tests/integration/test_metrics.py.)"""

import json

import pytest
from celery.signals import before_task_publish

from core import queue_age


def test_publishing_stamps_the_clocks_time_into_the_headers(monkeypatch):
    monkeypatch.setattr(queue_age, "clock", lambda: 1_700_000_000.25)
    headers = {"id": "a-task-id", "task": "apps.mailing.tasks.send_email_delivery"}

    before_task_publish.send(sender=headers["task"], body=(), headers=headers, properties={})

    assert headers[queue_age.HEADER] == 1_700_000_000.25
    assert headers["id"] == "a-task-id"


def envelope(headers: dict) -> bytes:
    """A message as kombu's Redis transport stores it (its JSON envelope)."""
    return json.dumps(
        {"body": "W10=", "content-type": "application/json", "headers": headers, "properties": {}}
    ).encode()


def test_the_publish_time_is_read_back_from_a_stored_message():
    assert queue_age.published_at(envelope({"published_at": 1_700_000_000.25})) == 1_700_000_000.25


@pytest.mark.parametrize(
    "raw",
    [
        envelope({"id": "x", "task": "t"}),  # published by a release before the header
        envelope({"published_at": "yesterday"}),
        b"not json",
        b'["a", "list"]',
        None,  # an empty list: nothing at its end
    ],
    ids=["no-header", "not-a-number", "not-json", "not-an-envelope", "nothing"],
)
def test_a_message_that_tells_no_publish_time_gives_none(raw):
    assert queue_age.published_at(raw) is None
