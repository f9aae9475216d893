"""Email settings (core/settings.py): the providers' from the environment, and the tracking
webhook's secret required and well-formed. (The retry timing: mailing/test_tasks.py; the
checks on them: mailing/test_checks.py.)"""

import json
import secrets

from tests.support.fresh_python import fresh_python


def load_settings(**variables: str):
    """The settings imported afresh with only these variables, as a deployment would."""
    return fresh_python("-c", ANYMAIL_AS_JSON, **variables)


ANYMAIL_AS_JSON = (
    "import json; from django.conf import settings; print(json.dumps(settings.ANYMAIL))"
)


def test_anymail_settings_come_from_the_environment():
    loaded = load_settings(
        POSTMARK_SERVER_TOKEN="pm-token",
        MAILGUN_API_KEY="mg-key",
        MAILGUN_SENDER_DOMAIN="mg.example.com",
        MAILGUN_API_URL="https://api.eu.mailgun.net/v3",
        SENDGRID_API_KEY="",  # set but empty: left out, like an unset variable
        AMAZON_SES_REGION="eu-west-1",
        BREVO_API_KEY="brevo-key",
        ANYMAIL_REQUESTS_TIMEOUT="12.5",
        ANYMAIL_WEBHOOK_SECRET="hook:s3cret,old:s3cret",
    )

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "MAILGUN_API_KEY": "mg-key",
        "MAILGUN_SENDER_DOMAIN": "mg.example.com",
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
        "AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"},
        "BREVO_API_KEY": "brevo-key",
        "REQUESTS_TIMEOUT": 12.5,
        "WEBHOOK_SECRET": ["hook:s3cret", "old:s3cret"],
    }


def test_production_with_tracking_on_and_no_webhook_secret_fails_loudly():
    loaded = load_settings(
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="reports.example.com",
        EMAIL_TRACKING_ENABLED="true",
    )

    assert loaded.returncode != 0
    assert "EMAIL_TRACKING_ENABLED is on but ANYMAIL_WEBHOOK_SECRET is empty" in loaded.stderr


def test_a_webhook_secret_must_be_user_colon_password():
    loaded = load_settings(EMAIL_TRACKING_ENABLED="true", ANYMAIL_WEBHOOK_SECRET="justapassword")

    assert loaded.returncode != 0
    assert "ANYMAIL_WEBHOOK_SECRET must be 'user:password'" in loaded.stderr
