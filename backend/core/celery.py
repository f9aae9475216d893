"""The Celery app: configuration from Django settings, queues and routes.

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os
from collections.abc import Iterator, Mapping

from celery import Celery
from celery.signals import task_prerun
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")


class CeleryOnlySettings(Mapping):
    """Django's CELERY_* settings under Celery's own names (CELERY_BROKER_URL as
    broker_url), and nothing else of Django's.

    Celery's usual `config_from_object("django.conf:settings", namespace="CELERY")`
    makes every Django setting part of the Celery config, and a config dump (Flower's
    worker page, `celery inspect conf`) then shows them all, the broker URL with its
    password in clear: Celery masks it only under the name `broker_url`.

    Read once, when Celery first needs its config (after Django has loaded its
    settings), into a plain dict: Celery looks keys up in its config source many times
    for every message it publishes, and a dict answers far more cheaply than Django's
    settings object.
    """

    PREFIX = "CELERY_"

    def __init__(self):
        self._values: dict | None = None

    def _load(self) -> dict:
        if self._values is None:
            from django.conf import settings

            self._values = {
                name.removeprefix(self.PREFIX).lower(): getattr(settings, name)
                for name in dir(settings)
                if name.startswith(self.PREFIX)
            }
        return self._values

    def __getitem__(self, name: str):
        # Asked by its Django name, too: Celery's Django fixup reads CELERY_DB_REUSE_MAX so.
        return self._load()[name.removeprefix(self.PREFIX).lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


app = Celery("core")
app.config_from_object(CeleryOnlySettings())

REPORTS_QUEUE = "reports"
EMAIL_QUEUE = "email"

# Each worker consumes exactly one of these (`-Q reports` / `-Q email`), so slow
# report building never delays email and an email outage never blocks reports.
app.conf.task_queues = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (REPORTS_QUEUE, EMAIL_QUEUE)
)
# Anything not routed below is report-side work; no task may land on a queue
# that no worker consumes.
app.conf.task_default_queue = REPORTS_QUEUE
app.conf.task_default_exchange = REPORTS_QUEUE
app.conf.task_default_routing_key = REPORTS_QUEUE
app.conf.task_create_missing_queues = False
app.conf.task_routes = {
    "apps.commission.tasks.*": {"queue": REPORTS_QUEUE},
    "apps.mailing.tasks.*": {"queue": EMAIL_QUEUE},
}

app.autodiscover_tasks()

# Workers keep their database connections; a warning for an email worker on prefork;
# every message published carries its publish time (the queues' age in /metrics).
from core import queue_age, worker_db, worker_pool_check  # noqa: E402, F401


@task_prerun.connect
def record_queue_and_arguments(task=None, **_):
    """Keep the queue a task was delivered from, and its arguments, in its stored result.

    django-celery-results saves `request.meta` with the result, so operators
    (and tests) can see which queue each task really ran on, and apps.taskops can
    send a failed task again with exactly its arguments: the result's own
    task_args/task_kwargs hold a repr, shortened when long.
    """
    delivery_info = task.request.delivery_info or {}
    task.request.meta = {
        "queue": delivery_info.get("routing_key"),
        # JSON already: the broker only carries JSON (accept_content).
        "args": list(task.request.args or ()),
        "kwargs": dict(task.request.kwargs or {}),
    }
