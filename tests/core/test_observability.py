"""Logging and Sentry (core.observability): no secret on Django's error pages, task context
in log lines, Sentry set up from the settings with no personal data in its events."""

from django.views.debug import get_default_exception_reporter_filter

BROKER_WITH_PASSWORD = "redis://:broker-s3cret-pw@127.0.0.1:6379/0"


def test_the_debug_page_and_error_reports_hide_every_credential(settings):
    settings.CELERY_BROKER_URL = BROKER_WITH_PASSWORD
    settings.SENTRY_DSN = "https://public-key@sentry.example.com/1"

    shown = get_default_exception_reporter_filter().get_safe_settings()

    assert "broker-s3cret-pw" not in str(shown)
    assert "public-key" not in str(shown)
    assert shown["CELERY_BROKER_URL"] == "********************"
