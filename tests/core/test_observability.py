"""Logging and Sentry (core.observability): no secret on Django's error pages, task context
in log lines, Sentry set up from the settings with no personal data in its events."""

import logging

from django.views.debug import get_default_exception_reporter_filter

from core.observability import TaskContextFilter, scrub_personal_data
from tests.support.fresh_python import printed_json

BROKER_WITH_PASSWORD = "redis://:broker-s3cret-pw@127.0.0.1:6379/0"


def test_the_debug_page_and_error_reports_hide_every_credential(settings):
    settings.CELERY_BROKER_URL = BROKER_WITH_PASSWORD
    settings.SENTRY_DSN = "https://public-key@sentry.example.com/1"

    shown = get_default_exception_reporter_filter().get_safe_settings()

    assert "broker-s3cret-pw" not in str(shown)
    assert "public-key" not in str(shown)
    assert shown["CELERY_BROKER_URL"] == "********************"


def test_log_lines_outside_tasks_say_so():
    record = logging.LogRecord("web", logging.INFO, __file__, 1, "hello", None, None)
    assert TaskContextFilter().filter(record) is True
    assert (record.task_name, record.task_id) == ("-", "-")


def sentry_client_in_a_fresh_process(**env: str) -> dict:
    """What a process that loads the settings (web, worker, beat, Flower) set up."""
    code = (
        "import json, django, sentry_sdk; django.setup(); c = sentry_sdk.get_client(); "
        "celery = c.get_integration('celery'); print(json.dumps({"
        "'active': c.is_active(), 'integrations': sorted(c.integrations), "
        "'pii': c.options['send_default_pii'], 'environment': c.options['environment'], "
        "'release': c.options['release'], 'rate': c.options['traces_sample_rate'], "
        "'beat': getattr(celery, 'monitor_beat_tasks', None), "
        "'locals': c.options['include_local_variables'], "
        "'bodies': c.options['max_request_body_size'], "
        "'ignored': sorted(__import__('sentry_sdk.integrations.logging', "
        "fromlist=['_IGNORED_LOGGERS'])._IGNORED_LOGGERS)}))"
    )
    return printed_json(code, **env)


def test_settings_initialise_sentry_only_when_a_dsn_is_set():
    client = sentry_client_in_a_fresh_process(
        SENTRY_DSN="http://public@127.0.0.1:9/1",
        SENTRY_ENVIRONMENT="staging",
        SENTRY_RELEASE="commission@1.2.3",
        SENTRY_TRACES_SAMPLE_RATE="0.25",
    )
    assert client["active"] is True
    assert {"django", "celery", "redis", "logging"} <= set(client["integrations"])
    assert client["beat"] is True
    assert client["pii"] is False
    assert client["locals"] is False
    assert client["bodies"] == "never"
    # Anonymous traffic Django logs at ERROR: probes, and posts to the tracking webhook.
    assert {
        "django.security.DisallowedHost",
        "django.security.AnymailWebhookValidationFailure",
        "django.security.RequestDataTooBig",
    } <= set(client["ignored"])
    assert (client["environment"], client["release"], client["rate"]) == (
        "staging",
        "commission@1.2.3",
        0.25,
    )

    # Env files list every variable, often empty: that means the default.
    client = sentry_client_in_a_fresh_process(
        SENTRY_DSN="http://public@127.0.0.1:9/1",
        SENTRY_ENVIRONMENT="",
        SENTRY_RELEASE="",
        SENTRY_TRACES_SAMPLE_RATE="",
        DJANGO_ENV="development",
    )
    assert (client["environment"], client["rate"]) == ("development", 0)

    assert sentry_client_in_a_fresh_process(SENTRY_DSN="")["active"] is False


def test_email_addresses_are_scrubbed_from_any_text_of_an_event():

    event = {
        "message": "Email delivery 3 sent to Ann.Lee+x@mail.example.co.uk",
        "breadcrumbs": {"values": [{"message": "to bob@example.com", "level": "info"}]},
        "extra": {"recipients": ("c@d.org",), "count": 2},
    }

    scrubbed = scrub_personal_data(event)

    assert scrubbed == {
        "message": "Email delivery 3 sent to [email]",
        "breadcrumbs": {"values": [{"message": "to [email]", "level": "info"}]},
        "extra": {"recipients": ["[email]"], "count": 2},
    }
    assert scrub_personal_data(None) is None
