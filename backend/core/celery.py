"""The Celery app: configuration from Django settings, queues and routes.

https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery
from celery.signals import task_prerun
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("core")
app.config_from_object("django.conf:settings", namespace="CELERY")

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


@task_prerun.connect
def remember_queue(task=None, **_):
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
