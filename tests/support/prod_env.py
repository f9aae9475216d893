"""Production's env file as an operator fills it in (.env.prod.example with every secret
set), the preflight check that reads it, and Redis's secret file and health check as
docker-compose.prod.yml defines them."""

import importlib.util
import re
import secrets
import stat
from pathlib import Path

from tests.support.compose import PROD_EXAMPLE
from tests.support.processes import REPO_DIR as REPO

PREFLIGHT = REPO / "ops" / "docker" / "preflight.py"
REDIS_SECRET = "/run/secrets/redis_password"

# Every secret the env file can hold, grouped by the containers that use it (the
# preflight service checks them all, without a network).
DJANGO_SECRETS = {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "SENTRY_DSN"}
DJANGO_SECRETS |= {"CELERY_BROKER_SENTINEL_PASSWORD"}
TRACKING_SECRETS = {"ANYMAIL_WEBHOOK_SECRET"}
PROVIDER_SECRETS = {"POSTMARK_SERVER_TOKEN", "MAILGUN_API_KEY", "SENDGRID_API_KEY"}
PROVIDER_SECRETS |= {"BREVO_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
PROVIDER_SECRETS |= {"EMAIL_HOST_PASSWORD"}
WEB_SECRETS = {"MAILGUN_WEBHOOK_SIGNING_KEY", "METRICS_TOKEN"}
FLOWER_SECRETS = {"FLOWER_BASIC_AUTH", "REDIS_PASSWORD", "SENTRY_DSN"}
FLOWER_SECRETS |= {"CELERY_BROKER_SENTINEL_PASSWORD"}
ALL_SECRETS = DJANGO_SECRETS | TRACKING_SECRETS | PROVIDER_SECRETS | WEB_SECRETS
ALL_SECRETS |= FLOWER_SECRETS
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|DSN|AUTH|DATABASE_URL|BROKER_URL")


def secret_values() -> dict[str, str]:
    """A value of its own for every secret, so that where it lands says who gets it."""
    values = {name: secrets.token_urlsafe(32) for name in ALL_SECRETS}
    values["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    values["FLOWER_BASIC_AUTH"] = f"ops:{secrets.token_urlsafe(24)}"
    values["ANYMAIL_WEBHOOK_SECRET"] = f"hook:{secrets.token_urlsafe(24)}"
    values["SENTRY_DSN"] = f"https://{secrets.token_hex(16)}@sentry.invalid/1"
    return values


def write_env_file(path: Path, changes: dict[str, str | None]) -> Path:
    """.env.prod.example with `changes`: a value replaces the line (or is appended, for
    one the example only documents), None drops the line."""
    lines, done = [], set()
    for line in PROD_EXAMPLE.read_text().splitlines():
        name = line.split("=", 1)[0] if re.match(r"[A-Z][A-Z0-9_]*=", line) else None
        if name in changes:
            done.add(name)
            if changes[name] is None:
                continue
            line = f"{name}={changes[name]}"
        lines.append(line)
    lines += [f"{n}={v}" for n, v in changes.items() if n not in done and v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def filled_in(path: Path, **changes: str | None) -> tuple[Path, dict[str, str]]:
    """The example as an operator fills it in: every secret set, the site's own domain,
    tracking on; then `changes`. Returns the file and the secrets in it."""
    values = secret_values()
    site = {
        "DJANGO_ALLOWED_HOSTS": "reports.acme.test",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://reports.acme.test",
        "DEFAULT_FROM_EMAIL": "Commission Reports <reports@acme.test>",
        "EMAIL_TRACKING_ENABLED": "True",
    }
    write_env_file(path, {**values, **site, **changes})
    return path, values


def load_preflight():
    spec = importlib.util.spec_from_file_location("preflight_under_test", PREFLIGHT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unescaped(text: str) -> str:
    """A command as the container gets it: `config` prints a literal $ as $$."""
    return text.replace("$$", "$")


def redis_health_check(model: dict, secret: Path, port: int | None = None) -> str:
    test = model["services"]["redis"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    check = unescaped(test[1])
    assert REDIS_SECRET in check and "redis-cli ping" in check
    check = check.replace(REDIS_SECRET, str(secret))
    return check.replace("redis-cli ping", f"redis-cli -p {port} ping") if port else check


def recording_redis_cli(tmp_path: Path, answer: str) -> Path:
    """A redis-cli that prints `answer` and records how it was called: its password
    (REDISCLI_AUTH) in tmp_path/auth, its arguments in tmp_path/argv. The folder to put
    first on PATH."""
    stub = tmp_path / "bin" / "redis-cli"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/sh\n"
        f'printf "%s" "$REDISCLI_AUTH" > {tmp_path}/auth\n'
        f'printf "%s" "$*" > {tmp_path}/argv\n'
        f"printf '%s\\n' '{answer}'\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return stub.parent
