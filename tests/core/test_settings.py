"""The settings (core/settings.py). In production, loaded in a fresh process with exactly
the environment docker-compose.prod.yml gives the web container: `check --deploy` passes
and can fail, weak secrets and unsafe values are refused, sessions, proxies and HSTS
follow the environment. Everywhere: a language not offered is refused, and an operator's
session ends with the browser and after a working day. (Local files: test_settings_local.py;
email: test_settings_email.py; the Content-Security-Policy: test_settings_csp.py.)"""

import secrets
import subprocess
import sys

import pytest

from core.credentials import DEVELOPMENT_SECRET_KEY
from tests.factories import UserFactory
from tests.support.compose import container_env
from tests.support.fresh_python import clean_env, manage, setting_values
from tests.support.processes import REPO_DIR as REPO


def test_deploy_check_passes_with_the_production_environment(prod_model):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=container_env(prod_model, "web")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_when_a_security_setting_is_off(prod_model):
    """The check above can fail: without HSTS the same command reports security.W004."""
    env = container_env(prod_model, "web", DJANGO_SECURE_HSTS_SECONDS="0")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_production_settings_require_the_secret_key(prod_model):
    env = container_env(prod_model, "web")
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


GENERATE_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(50))"'


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("change-me", "is a known placeholder"),
        (f"{secrets.token_urlsafe(40)}-change-me", "is a known placeholder"),
        (f"django-insecure-{secrets.token_urlsafe(40)}", "is a known placeholder"),
        (DEVELOPMENT_SECRET_KEY, "is a known placeholder"),
        (secrets.token_urlsafe(40)[:49], "has 49 characters, fewer than 50"),
        ("ab" * 40, "has fewer than 5 different characters"),
    ],
    ids=["placeholder", "with-placeholder", "django-insecure", "development", "short", "few"],
)
def test_production_refuses_a_weak_secret_key(prod_model, key, problem):
    result = manage("check", env=container_env(prod_model, "web", DJANGO_SECRET_KEY=key))
    assert result.returncode != 0
    assert f"DJANGO_SECRET_KEY {problem}" in result.stderr
    # It says how to make a good one, and the key itself stays out of the logs.
    assert GENERATE_KEY in result.stderr
    assert key not in result.stderr


def test_production_accepts_a_generated_secret_key(prod_model):
    key = secrets.token_urlsafe(50)
    env = container_env(prod_model, "web", DJANGO_SECRET_KEY=key)
    assert setting_values("SECRET_KEY", env=env) == {"SECRET_KEY": key}


STRONG_PASSWORD = secrets.token_urlsafe(16)
SHORT_PASSWORD = "Fifteen-chars-7"


@pytest.mark.parametrize(
    ("secret", "weak_users"),
    [
        ("hook:change-me", "hook"),
        (f"hook:change-me-{STRONG_PASSWORD}", "hook"),
        (f"hook:{SHORT_PASSWORD}", "hook"),
        # During a rotation each password is checked; only the weak one is named.
        (f"hook:{STRONG_PASSWORD},old:{SHORT_PASSWORD}", "old"),
    ],
    ids=["placeholder", "with-placeholder", "short", "rotation"],
)
def test_production_refuses_a_weak_webhook_password(prod_model, secret, weak_users):
    env = container_env(
        prod_model, "web", EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET=secret
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert (
        f"ANYMAIL_WEBHOOK_SECRET has a placeholder or short password for {weak_users}: "
        "use 16 characters or more"
    ) in result.stderr
    # The passwords stay out of the logs.
    assert STRONG_PASSWORD not in result.stderr
    assert SHORT_PASSWORD not in result.stderr


def test_production_accepts_strong_webhook_passwords(prod_model):
    secret = f"hook:{STRONG_PASSWORD},old:{secrets.token_urlsafe(16)}"
    env = container_env(
        prod_model, "web", EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET=secret
    )
    loaded = setting_values("ANYMAIL", env=env)["ANYMAIL"]
    assert loaded["WEBHOOK_SECRET"] == secret.split(",")


def test_development_takes_any_webhook_password():
    env = clean_env(EMAIL_TRACKING_ENABLED="True", ANYMAIL_WEBHOOK_SECRET="hook:dev")
    loaded = setting_values("ANYMAIL", env=env)["ANYMAIL"]
    assert loaded["WEBHOOK_SECRET"] == ["hook:dev"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DJANGO_DEBUG": "True"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_ALLOWED_HOSTS": "reports.example.com,*"}, "may not contain '*'"),
    ],
)
def test_production_refuses_unsafe_settings(prod_model, changes, message):
    result = manage("check", env=container_env(prod_model, "web", **changes))
    assert result.returncode != 0
    assert message in result.stderr


def test_sessions_last_a_working_day_unless_the_environment_says_otherwise(prod_model):
    names = ("SESSION_COOKIE_AGE", "SESSION_EXPIRE_AT_BROWSER_CLOSE")
    for value, expected in (("", 8 * 60 * 60), ("3600", 3600)):
        env = container_env(prod_model, "web", DJANGO_SESSION_COOKIE_AGE=value)
        assert setting_values(*names, env=env) == {
            "SESSION_COOKIE_AGE": expected,
            "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
        }
    refused = manage("check", env=container_env(prod_model, "web", DJANGO_SESSION_COOKIE_AGE="0"))
    assert refused.returncode != 0
    assert "DJANGO_SESSION_COOKIE_AGE must be a number of seconds > 0" in refused.stderr


def test_prod_web_trusts_the_one_proxy_in_front_of_it(prod_model):
    """gunicorn is published on loopback for the host's reverse proxy: one proxy, whose
    X-Forwarded-For entry login throttling reads; development trusts none."""
    web = container_env(prod_model, "web")
    assert web["DJANGO_TRUSTED_PROXY_COUNT"] == "1"
    assert setting_values("TRUSTED_PROXY_COUNT", env=web) == {"TRUSTED_PROXY_COUNT": 1}
    assert setting_values("TRUSTED_PROXY_COUNT") == {"TRUSTED_PROXY_COUNT": 0}
    negative = manage("check", env=clean_env(DJANGO_TRUSTED_PROXY_COUNT="-1"))
    assert negative.returncode != 0
    assert "DJANGO_TRUSTED_PROXY_COUNT must be 0 or more" in negative.stderr


def test_hsts_preload_is_opt_in(prod_model):
    for value, expected in (("", False), ("True", True)):
        env = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD=value)
        assert setting_values("SECURE_HSTS_PRELOAD", env=env) == {"SECURE_HSTS_PRELOAD": expected}
    opted_in = container_env(prod_model, "web", DJANGO_SECURE_HSTS_PRELOAD="True")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=opted_in)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_sessions_end_with_the_browser_and_after_a_working_day(client, settings):
    user = UserFactory(username="operator", is_staff=True)
    user.set_password("an-operator-password-1")
    user.save()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "operator", "password": "an-operator-password-1"},
    )
    assert response.status_code == 302

    # A browser-session cookie: no expiry date, so closing the browser ends it ...
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert (cookie["max-age"], cookie["expires"]) == ("", "")
    # ... and the server forgets the session after DJANGO_SESSION_COOKIE_AGE (8 hours).
    assert client.session.get_expire_at_browser_close() is True
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 8 * 60 * 60


def test_the_settings_refuse_a_language_code_they_do_not_offer():
    done = subprocess.run(
        [sys.executable, "-c", "import core.settings"],
        cwd=REPO / "backend",
        env={"PATH": "/usr/bin:/bin", "DJANGO_READ_DOT_ENV_FILE": "False", "LANGUAGE_CODE": "de"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "LANGUAGE_CODE must be one of en, ru, not 'de'" in done.stderr


def test_connections_are_kept_however_the_process_is_started(prod_model):
    """A worker run by hand (`celery -A core worker`), runserver and gunicorn read the
    same settings: kept connections by default, in development and in production with
    the env file's line left empty, and 0 still closes them."""
    for env in (clean_env(), container_env(prod_model, "web", DATABASE_CONN_MAX_AGE="")):
        assert setting_values("DATABASES", env=env)["DATABASES"]["default"]["CONN_MAX_AGE"] == 60
    closed = setting_values("DATABASES", env=clean_env(DATABASE_CONN_MAX_AGE="0"))
    assert closed["DATABASES"]["default"]["CONN_MAX_AGE"] == 0


def test_the_send_rate_is_off_by_default_and_refuses_a_negative_one():
    assert setting_values("EMAIL_RATE_LIMIT") == {"EMAIL_RATE_LIMIT": 0}
    assert setting_values("EMAIL_RATE_LIMIT", env=clean_env(EMAIL_RATE_LIMIT="2.5")) == {
        "EMAIL_RATE_LIMIT": 2.5
    }
    refused = manage("check", env=clean_env(EMAIL_RATE_LIMIT="-1"))
    assert refused.returncode != 0
    assert "EMAIL_RATE_LIMIT is -1.0" in refused.stderr
