"""Owed work as the tests make it: email deliveries with chosen state, times in the past,
an enqueue callable that records its calls or fails like a broker away, and a failed
send task's stored result."""

import datetime as dt
import json

from celery import states
from celery.utils import uuid
from django.utils import timezone
from django_celery_results.models import TaskResult
from kombu.exceptions import OperationalError as BrokerError

from apps.commission.periods import Period
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery

PERIOD = Period(2025, 9)


class Recorder:
    """Stands in for a task's enqueue: remembers the calls, or fails like a broker away."""

    def __init__(self, broker_away: bool = False):
        self.calls: list[tuple] = []
        self.broker_away = broker_away

    def __call__(self, *args):
        if self.broker_away:
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.calls.append(args)


def new_delivery(key: str = "owed", **changes) -> EmailDelivery:
    """An email delivery (idempotency key "test:<key>"), then `changes` written as they are."""
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}", to_email="boss@example.com", subject="S", body_text="B"
    )
    if changes:
        EmailDelivery.objects.filter(pk=delivery.pk).update(**changes)
        delivery.refresh_from_db()
    return delivery


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def failed_send_result(delivery: EmailDelivery) -> TaskResult:
    """The stored result of a send task that failed for `delivery`."""
    return TaskResult.objects.create(
        task_id=uuid(),
        task_name="apps.mailing.tasks.send_email_delivery",
        status=states.FAILURE,
        meta=json.dumps({"args": [delivery.pk], "kwargs": {}}),
    )
