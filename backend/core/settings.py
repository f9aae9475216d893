"""Django settings: the one place that reads the environment.

Every variable read here is listed, with a one-line comment, in `.env.example`.
https://docs.djangoproject.com/en/5.2/ref/settings/
"""

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF

from core.credentials import (
    DEVELOPMENT_SECRET_KEY,
    KNOWN_PASSWORDS,
    MIN_PASSWORD_LENGTH,
    generate_command,
    secret_key_problem,
    weak_password,
    weak_password_users,
)
from core.redis_connection import DEFAULT_MASTER_NAME, is_sentinel, sentinel_url_problems

BACKEND_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BACKEND_DIR.parent
VAR_DIR = REPO_DIR / "var"

env = environ.Env()
# Local files, on unless DJANGO_READ_DOT_ENV_FILE is off (the test suite turns it off, so
# that a developer's own .env cannot change what the tests see). Real environment
# variables win over both (read_env never overwrites them); `make run` writes the ports
# it chose to var/run.env, so that commands in a second terminal reach its Redis, and
# that file wins over .env.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True):
    for local_file in (VAR_DIR / "run.env", REPO_DIR / ".env"):
        if local_file.is_file():
            env.read_env(local_file)
# An empty variable counts as unset, so its default applies: env files and compose
# files list every variable, most of them left empty.
env.ENVIRON = {name: value for name, value in os.environ.items() if value != ""}

# GENERAL
# ------------------------------------------------------------------------------
# "development" gives safe local defaults; "production" makes every secret mandatory.
DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise environ.ImproperlyConfigured(
        f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}"
    )
IS_PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=not IS_PRODUCTION)
if IS_PRODUCTION:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
    # Whoever knows the key can forge sessions and password-reset links: a placeholder
    # (the example's, Django's, ours) or a short key is refused (core/credentials.py).
    if key_problem := secret_key_problem(SECRET_KEY):
        raise environ.ImproperlyConfigured(
            f"DJANGO_SECRET_KEY {key_problem}: set it to a long random value, "
            f"e.g. the output of {generate_command(50)}"
        )
    # Debug pages show settings and code to anyone; "*" accepts any Host header (cache
    # poisoning, password-reset links to a foreign host). Production refuses both.
    if DEBUG:
        raise environ.ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production")
    if "*" in ALLOWED_HOSTS:
        raise environ.ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS may not contain '*' when DJANGO_ENV=production: "
            "list the host names this site answers to"
        )
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
    ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

TIME_ZONE = env.str("TIME_ZONE", default="UTC")

# LANGUAGES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/i18n/translation/
# The languages a manager can read reports in, each named in itself so that a reader
# finds their own; a new one needs its catalog under backend/locale/. LANGUAGE_CODE is
# the default for new users, for users whose language is no longer offered, and for
# the admin.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise environ.ImproperlyConfigured(
        f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}"
    )
# Compiled from the .po files by ops/scripts/compile-catalogs.sh; the .mo files are
# never committed.
LOCALE_PATHS = [BACKEND_DIR / "locale"]
USE_I18N = True
USE_TZ = True

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# DATABASES
# ------------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# Kept between requests and tasks, however the process was started (gunicorn, runserver,
# `celery worker` by hand): opening one costs more than most requests and tasks. A kept
# connection is tested before its first use in each request or task, so one that a
# database restart cut is replaced instead of failing the work.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, two workers and beat share one file: WAL and IMMEDIATE
    # transactions keep them from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that Celery workers started by the test suite
    # as separate processes see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Workers run the same few statements thousands of times on a kept connection:
    # psycopg prepares each one after its fifth run, so PostgreSQL parses and plans it
    # once. Prepared statements need server-side binding; a transaction-mode pooler that
    # cannot carry them (PgBouncer before 1.21) needs this off.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )

# APPS
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "axes",
    # Its system checks; the header comes from CSPMiddleware.
    "csp",
    "anymail",
    "apps.accounts",
    "apps.commission",
    "apps.mailing",
    # After django_celery_beat and django_celery_results: replaces their admins for
    # periodic tasks and task results.
    "apps.taskops",
]

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, which answers static files itself: every response gets the policy.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the 429 answer.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Templates shared by the apps (the admin's confirmation page).
        "DIRS": [BACKEND_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# STATIC FILES
# ------------------------------------------------------------------------------
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
# The project's own files (scripts moved out of templates, as the Content-Security-Policy
# below wants); each app's static/ folder is found as well.
STATICFILES_DIRS = [BACKEND_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# SECURITY
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading puts the domain (and its subdomains) into browsers' HTTPS-only list,
    # which takes months to undo: the owner of the domain opts in.
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "SECURE_HSTS_PRELOAD is not True"
    # Health probes and the metrics scraper come over plain HTTP from inside the
    # container network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
# An admin login lasts a working day (seconds; from the login, not from the last click)
# and ends when the browser closes, in development as in production.
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 60 * 60)
if SESSION_COOKIE_AGE <= 0:
    raise environ.ImproperlyConfigured("DJANGO_SESSION_COOKIE_AGE must be a number of seconds > 0")
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy, on every response: the browser runs scripts, styles and
# images from this site only, sends forms only here, and nobody frames the site. No
# inline script or style attribute runs: Django's admin has none, and the one of
# django-celery-beat's task form is a file here (templates/admin/djcelery/); a template
# that needs one gets a static file instead. Flower is its own server (tornado) and does
# not send this header.
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# ADMIN LOGIN THROTTLING
# ------------------------------------------------------------------------------
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# After AXES_FAILURE_LIMIT failures for one user name from one address, that pair is
# refused (429) for AXES_COOLOFF_TIME; a success resets the pair's count. An address
# with LOGIN_ADDRESS_FAILURE_LIMIT failures across any user names (password spraying)
# is refused for every name (core.throttling.LoginThrottleHandler).
AXES_FAILURE_LIMIT = 5
LOGIN_ADDRESS_FAILURE_LIMIT = 20
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "core.throttling.LoginThrottleHandler"
# The client's address: REMOTE_ADDR when nothing is in front of the app (0), else the
# address the outermost of this many reverse proxies saw, from X-Forwarded-For, which
# each proxy appends to (core.throttling.client_ip). Set it to exactly the number of
# proxies that append: a higher number trusts what the client wrote.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise environ.ImproperlyConfigured("DJANGO_TRUSTED_PROXY_COUNT must be 0 or more")
AXES_CLIENT_IP_CALLABLE = "core.throttling.client_ip"
# Lockouts are still logged; the start-up banner in every manage.py command is not.
AXES_VERBOSE = False

# /metrics: with a token only `Authorization: Bearer <token>` may scrape it; without
# one it is open in development and not served in production (core/metrics.py).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if IS_PRODUCTION and METRICS_TOKEN and (len(METRICS_TOKEN) < 32 or "change-me" in METRICS_TOKEN):
    raise environ.ImproperlyConfigured(
        "METRICS_TOKEN must be a long random value (32 characters or more, no 'change-me') "
        "when DJANGO_ENV=production; make one with python3 -c "
        "'import secrets; print(secrets.token_urlsafe(32))'"
    )

# Error reports and the debug page hide every setting that can carry a credential.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.observability.SecretSettingsFilter"

# COMMISSIONS
# ------------------------------------------------------------------------------
# One currency per deployment; every deal is recorded in it.
COMMISSION_CURRENCY = env.str("COMMISSION_CURRENCY", default="USD")

# EMAIL
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/email/ and https://anymail.dev/
# Development's default logs each email readably (apps.mailing.backends); Django's own
# console backend prints the raw MIME message.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="apps.mailing.backends.ReadableConsoleBackend")
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=VAR_DIR / "mail")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Commission Reports <reports@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_REPLY_TO = env.list("EMAIL_REPLY_TO", default=[])

# Anymail: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend picks the provider; its
# settings come from these variables, only those set, so Anymail's defaults hold for
# the rest. https://anymail.dev/en/stable/esps/
ANYMAIL = {
    name: env.str(name)
    for name in (
        "POSTMARK_SERVER_TOKEN",
        "POSTMARK_API_URL",
        "POSTMARK_MESSAGE_STREAM",
        "MAILGUN_API_KEY",
        "MAILGUN_SENDER_DOMAIN",
        "MAILGUN_API_URL",
        "MAILGUN_WEBHOOK_SIGNING_KEY",
        "SENDGRID_API_KEY",
        "AMAZON_SES_CONFIGURATION_SET_NAME",
        "BREVO_API_KEY",
    )
    if env.str(name, default="")
}
# Amazon SES signs in through boto3's own chain (AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, or an instance role); the region is all we pass.
AMAZON_SES_REGION = env.str("AMAZON_SES_REGION", default="")
if AMAZON_SES_REGION:
    ANYMAIL["AMAZON_SES_CLIENT_PARAMS"] = {"region_name": AMAZON_SES_REGION}
# Kept below CELERY_TASK_SOFT_TIME_LIMIT (a system check says so): a provider call
# cut off after the provider accepted the message would be sent again.
ANYMAIL["REQUESTS_TIMEOUT"] = env.float("ANYMAIL_REQUESTS_TIMEOUT", default=30)

# Delivery tracking: the provider POSTs events to /anymail/<esp>/tracking/ with the
# basic-auth "user:password" below in the URL. Without it anyone could mark reports
# bounced, so tracking on requires it. Two comma-separated values allow a rotation.
EMAIL_TRACKING_ENABLED = env.bool("EMAIL_TRACKING_ENABLED", default=False)
webhook_secrets = env.list("ANYMAIL_WEBHOOK_SECRET", default=[])
if EMAIL_TRACKING_ENABLED and not webhook_secrets:
    raise environ.ImproperlyConfigured(
        "EMAIL_TRACKING_ENABLED is on but ANYMAIL_WEBHOOK_SECRET is empty: set it to a long "
        "random 'user:password' and use the same credentials in the provider's webhook URL "
        "(https://user:password@your-host/anymail/<esp>/tracking/)"
    )
if any(":" not in secret for secret in webhook_secrets):
    raise environ.ImproperlyConfigured(
        "ANYMAIL_WEBHOOK_SECRET must be 'user:password' (or two of them, comma-separated)"
    )
# Production: the same rule as Flower's password (core/credentials.py).
if IS_PRODUCTION and (weak_webhook_users := weak_password_users(webhook_secrets)):
    raise environ.ImproperlyConfigured(
        f"ANYMAIL_WEBHOOK_SECRET has a placeholder or short password for "
        f"{', '.join(weak_webhook_users)}: use {MIN_PASSWORD_LENGTH} characters or more "
        f"with no {' or '.join(KNOWN_PASSWORDS)} in it, e.g. the output of {generate_command(32)}"
    )
if webhook_secrets:
    ANYMAIL["WEBHOOK_SECRET"] = webhook_secrets
# A tracking post larger than this is refused (413) before its body is read; no
# provider's event batch comes near it, and it stays below DATA_UPLOAD_MAX_MEMORY_SIZE
# (2.5 MB), whose refusal Django logs at ERROR.
TRACKING_WEBHOOK_MAX_BYTES = 1024 * 1024

# CELERY
# ------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Queues and routes live in core/celery.py; here is what the environment decides.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://localhost:6379/0")
# Redis Sentinel (kombu's form: sentinel://:redis-password@host1:26379;sentinel://...@host2:26379):
# the master set the Sentinels watch, and Sentinel's own password (its requirepass), which
# is not the master's. Both reach Celery, Flower and core/redis_connection.py through
# CELERY_BROKER_TRANSPORT_OPTIONS below. Unused with a redis:// URL.
BROKER_SENTINEL_MASTER = env.str("CELERY_BROKER_SENTINEL_MASTER", default=DEFAULT_MASTER_NAME)
BROKER_SENTINEL_PASSWORD = env.str("CELERY_BROKER_SENTINEL_PASSWORD", default="")
if is_sentinel(CELERY_BROKER_URL):
    if problems := sentinel_url_problems(CELERY_BROKER_URL):
        raise environ.ImproperlyConfigured(f"CELERY_BROKER_URL {'; '.join(problems)}")
    if not BROKER_SENTINEL_MASTER.strip() or any(c.isspace() for c in BROKER_SENTINEL_MASTER):
        raise environ.ImproperlyConfigured(
            "CELERY_BROKER_SENTINEL_MASTER must name the master set, as in the Sentinels' "
            "`sentinel monitor <name> ...` (no spaces)"
        )
    # Production: whoever reaches a Sentinel without a password can fail the master over
    # or point it elsewhere, and one without the master's password can read every task.
    if IS_PRODUCTION:
        sentinel_passwords = {
            "CELERY_BROKER_URL's password (the master's requirepass)": urlsplit(
                CELERY_BROKER_URL.split(";", 1)[0]
            ).password,
            "CELERY_BROKER_SENTINEL_PASSWORD": BROKER_SENTINEL_PASSWORD,
        }
        if weak := [name for name, value in sentinel_passwords.items() if weak_password(value)]:
            raise environ.ImproperlyConfigured(
                f"{' and '.join(weak)}: missing, a placeholder or shorter than "
                f"{MIN_PASSWORD_LENGTH} characters; a sentinel:// broker needs both when "
                f"DJANGO_ENV=production: make one with {generate_command(32)}"
            )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-results, storing each result in one statement (core/results.py).
CELERY_RESULT_BACKEND = "core.results:DatabaseBackend"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=60 * 60 * 24 * 30)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# No STARTED row in the result table: it would cost every task a second database write, and
# nothing reads it. Flower shows a task as started from the worker's task-started event,
# and the stored results that matter (SUCCESS, and FAILURE with its arguments and queue
# for apps.taskops) are written all the same.
CELERY_TASK_TRACK_STARTED = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connections around every task unless this
# is set, and then every this many tasks; in between, Django's own rules decide, as
# between requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS: core/worker_db.py).
CELERY_DB_REUSE_MAX = 1000
# Soft shutdown: ops/start/worker makes SIGTERM Celery's cold shutdown
# (REMAP_SIGTERM=SIGQUIT), which first gives running tasks this many seconds to finish,
# then cancels them back to the queue (acks_late). Either way the retries the worker
# holds with a countdown go back to Redis as its connection closes.
# https://docs.celeryq.dev/en/stable/userguide/workers.html#soft-shutdown
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env.float("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", default=30)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Email retries: exponential backoff with full jitter. The defaults' countdowns are
# capped at 60, 120, 240, 480, then 900s six times: 1h45 at most, about 50 minutes on
# average with the jitter, enough to outlast a real provider outage.
EMAIL_RETRY_BACKOFF = env.int("EMAIL_RETRY_BACKOFF", default=60)
EMAIL_RETRY_BACKOFF_MAX = env.int("EMAIL_RETRY_BACKOFF_MAX", default=900)
EMAIL_RETRY_MAX_RETRIES = env.int("EMAIL_RETRY_MAX_RETRIES", default=10)

# Sends per second for the whole deployment, however many email workers share it, kept
# in Redis (apps/mailing/rate_limit.py); 0 is no limit. Set it a little under the
# provider's limit. A 429 from the provider pauses every sender for its Retry-After.
EMAIL_RATE_LIMIT = env.float("EMAIL_RATE_LIMIT", default=0)
if EMAIL_RATE_LIMIT < 0:
    raise environ.ImproperlyConfigured(
        f"EMAIL_RATE_LIMIT is {EMAIL_RATE_LIMIT}: sends per second, above 0, or 0 for no limit"
    )

# A send whose outcome is unknown (a timeout after the request went out, a worker
# killed mid-call) waits this long for the provider's tracking event before it is sent
# again; with tracking off nothing can confirm it, and it is retried like any error.
EMAIL_UNCONFIRMED_WAIT = env.int("EMAIL_UNCONFIRMED_WAIT", default=180)

# OWED WORK
# ------------------------------------------------------------------------------
# The database, not the broker, remembers every report and email still owed. An owed
# item whose message is this many seconds overdue (Redis lost it, or a killed worker
# held it) is queued again by the reconcilers, which beat runs every minute.
RECONCILE_STALLED_AFTER = env.int("RECONCILE_STALLED_AFTER", default=300)

# A task waiting out a retry countdown stays unacknowledged in Redis; if the
# visibility timeout ran out first, Redis would hand it to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
}
if is_sentinel(CELERY_BROKER_URL):
    # kombu's SentinelChannel and Flower's RedisSentinel read these two options.
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = BROKER_SENTINEL_MASTER
    if BROKER_SENTINEL_PASSWORD:
        CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {"password": BROKER_SENTINEL_PASSWORD}

# LOGGING
# ------------------------------------------------------------------------------
# One configuration for web and workers; task log lines carry the task name and id.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_context": {"()": "core.observability.TaskContextFilter"}},
    "formatters": {
        "standard": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(task_name)s %(task_id)s] %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "standard",
            "filters": ["task_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}

# SENTRY
# ------------------------------------------------------------------------------
# https://docs.sentry.io/platforms/python/integrations/django/
# Off unless SENTRY_DSN is set. Every process (web, workers, beat, Flower) loads these
# settings, so every one of them reports. See core.observability.init_sentry.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from core.observability import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=DJANGO_ENV),
        release=env.str("SENTRY_RELEASE", default=None),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
