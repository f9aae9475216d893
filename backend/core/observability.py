"""Logging and error reporting shared by the web process, the Celery workers, beat and Flower."""

import logging
import re

import sentry_sdk
from celery import current_task
from celery.signals import task_failure, task_postrun
from django.views.debug import SafeExceptionReporterFilter
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import LoggingIntegration, ignore_logger
from sentry_sdk.integrations.redis import RedisIntegration


class SecretSettingsFilter(SafeExceptionReporterFilter):
    """Django's filter for error reports and the debug page, which also hides the
    settings that carry credentials inside a URL (the broker's, Sentry's DSN)."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|BROKER|DSN|DATABASE", flags=re.I
    )


class TaskContextFilter(logging.Filter):
    """Add the running Celery task's name and id to every log record ("-" outside tasks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request = getattr(task, "request", None) if task else None
        task_id = getattr(request, "id", None)
        record.task_name = task.name if task_id else "-"
        record.task_id = task_id or "-"
        return True


def init_sentry(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float
) -> None:
    """Report errors to Sentry; settings call this when SENTRY_DSN is set.

    A task run that fails for good gives exactly one event, naming the task and its id:
    - the Celery integration captures the exception a task finally raises. It skips
      `Retry`, so the attempts in between are silent, and the exceptions in the task's
      `throws` (expected failures: a refused report, an email refused for good);
    - the logging integration turns `logger.error` into an event; the code that gives
      up on an expected failure logs it at ERROR, while errors that will be retried are
      logged at WARNING and only leave a breadcrumb (Celery's own "Task ... raised"
      lines come from loggers the Celery integration ignores);
    - a failure that produced neither (an expected error nobody logged, or a hard time
      limit, which the worker's main process records) is captured on `task_failure`;
    - and a run never sends a second event (say, an error logged just before an
      unexpected exception), so these never add up.
    """
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        # No personal data leaves: no user or request data, no stack frames' local
        # variables (they hold recipients and report contents), no request bodies, and
        # email addresses are taken out of whatever text is left (scrub_personal_data).
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=True),
            RedisIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        before_send=lambda event, hint: scrub_personal_data(one_event_per_task_run(event, hint)),
        before_send_transaction=lambda event, hint: scrub_personal_data(event),
    )
    # A request for a host not in ALLOWED_HOSTS is a probe or a misrouted request, not an
    # error of ours; Django answers 400 and logs it.
    ignore_logger("django.security.DisallowedHost")
    # Anonymous traffic, logged by Django at ERROR: a webhook post that fails Anymail's
    # credential check, a body over DATA_UPLOAD_MAX_MEMORY_SIZE. The tracking webhook
    # refuses both itself with a WARNING (a breadcrumb, never an event) before Django
    # would; these keep any other path from spending the Sentry quota on them.
    ignore_logger("django.security.AnymailWebhookValidationFailure")
    ignore_logger("django.security.RequestDataTooBig")
    task_failure.connect(report_final_failure, weak=False, dispatch_uid=__name__ + ".failure")
    task_postrun.connect(forget_task_run, weak=False, dispatch_uid=__name__ + ".postrun")


# Ids of the task runs in this process that have sent an event (a run ends at task_postrun).
_reported_runs: set[str] = set()


def one_event_per_task_run(event: dict, hint: dict) -> dict | None:
    """Drop a task run's second event; tag events with the task's name, because Sentry
    searches and groups by tags while the Celery integration puts the name in extra data."""
    tags = event.setdefault("tags", {})
    task_name = event.get("extra", {}).get("celery-job", {}).get("task_name")
    if task_name:
        tags.setdefault("celery_task_name", task_name)
    task_id = tags.get("celery_task_id")
    if task_id:
        if task_id in _reported_runs:
            return None
        _reported_runs.add(task_id)
    return event


EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def scrub_personal_data(value):
    """The event with every email address in its text replaced (messages, breadcrumbs,
    exception values, extra data); None stays None (a dropped event)."""
    if isinstance(value, str):
        return EMAIL_ADDRESS.sub("[email]", value)
    if isinstance(value, dict):
        return {key: scrub_personal_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_personal_data(item) for item in value]
    return value


def report_final_failure(sender=None, task_id=None, exception=None, **_) -> None:
    if task_id not in _reported_runs:
        with sentry_sdk.new_scope() as scope:
            # Set here too: the worker's main process has no task scope.
            scope.set_tag("celery_task_id", task_id)
            scope.set_tag("celery_task_name", getattr(sender, "name", None))
            sentry_sdk.capture_exception(exception)
    _reported_runs.discard(task_id)


def forget_task_run(task_id=None, **_) -> None:
    _reported_runs.discard(task_id)
