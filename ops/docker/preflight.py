#!/usr/bin/env python3
"""Check production's settings before anything starts: every problem at once, each with
what to do, and never a secret's value.

    ops/scripts/check-prod-env.sh .env.prod              on the host, before `up`
    python3 ops/docker/preflight.py --env-file .env.prod the same, without the wrapper
    python ops/docker/preflight.py                       the `preflight` service: checks
                                                         the environment compose gave it

docker-compose.prod.yml runs it as the one-shot `preflight` service, which PostgreSQL and
Redis wait for: PostgreSQL takes POSTGRES_PASSWORD only when it creates its volume, so a
placeholder that reached it would stay the database's password after the env file is
fixed. The settings and Flower refuse most of these values too, but only once their
process starts, one at a time, after the databases have started.

Plain Python, no Django, no network: it runs on the host's python3 (3.10 or later). The
rules for keys and passwords are backend/core/credentials.py's, plain Python as well.
Exit status: 0 nothing to fix, 1 problems (on stderr), 2 the env file cannot be read.
"""

import argparse
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]


def load_credentials_rules():
    """backend/core/credentials.py on its own: importing it as core.credentials would run
    core/__init__.py, which loads Celery, absent from the host's python3."""
    path = REPO_DIR / "backend" / "core" / "credentials.py"
    spec = importlib.util.spec_from_file_location("commission_credentials", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rules = load_credentials_rules()
KNOWN_PASSWORDS = _rules.KNOWN_PASSWORDS
MIN_PASSWORD_LENGTH = _rules.MIN_PASSWORD_LENGTH
PLACEHOLDER = _rules.PLACEHOLDER
generate_command = _rules.generate_command
secret_key_problem = _rules.secret_key_problem
weak_password_users = _rules.weak_password_users

COMPOSE_FILE = REPO_DIR / "docker-compose.prod.yml"
EXAMPLE_FILE = REPO_DIR / ".env.prod.example"

# What the settings ask of METRICS_TOKEN in production (core/settings.py).
MIN_METRICS_TOKEN_LENGTH = 32
# The example's domain (RFC 2606): nobody's host, nobody's sender.
EXAMPLE_DOMAIN = "example.com"
# Characters a password may have when compose writes it into a URL (DATABASE_URL,
# CELERY_BROKER_URL) and into Redis's configuration: RFC 3986's unreserved ones, which
# is what secrets.token_urlsafe() prints.
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
# Redis's memory sizes: 536870912, 512mb, 1gb (any case); 0 would mean no limit.
REDIS_MEMORY = re.compile(r"(?i)\d+(b|k|kb|m|mb|g|gb)?")
# django-environ's true values (Env.BOOLEAN_TRUE_STRINGS).
TRUE = {"true", "on", "ok", "y", "yes", "1"}

GENERATE_PASSWORD = f"make one with {generate_command(32)}"

# Compose refuses to start without these (${NAME:?...} in docker-compose.prod.yml).
REQUIRED = {
    "DJANGO_SECRET_KEY": f"make one with {generate_command(50)}",
    "DJANGO_ALLOWED_HOSTS": "list the host names the site answers to, comma-separated",
    "POSTGRES_PASSWORD": GENERATE_PASSWORD,
    "REDIS_PASSWORD": GENERATE_PASSWORD,
    "FLOWER_BASIC_AUTH": f"set user:password, the password from {generate_command(32)}",
}

# EMAIL_BACKEND's provider -> the variable it cannot send without.
PROVIDER_CREDENTIALS = {
    "postmark": "POSTMARK_SERVER_TOKEN",
    "mailgun": "MAILGUN_API_KEY",
    "sendgrid": "SENDGRID_API_KEY",
    "brevo": "BREVO_API_KEY",
    "sendinblue": "BREVO_API_KEY",
    "amazon_ses": "AMAZON_SES_REGION",
}

# Compose builds these from the passwords when the env file leaves them empty.
DERIVED = {"DATABASE_URL": "POSTGRES_PASSWORD", "CELERY_BROKER_URL": "REDIS_PASSWORD"}

# Read by compose or the docker CLI from the env file, not passed to any container.
COMPOSE_OWN = ("COMPOSE_", "DOCKER_")

Problems = list[tuple[str, str]]


# THE RULES
# ------------------------------------------------------------------------------
# Each takes the values and says what is wrong with one variable or a few, and what to do.


def check_required(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for name, advice in REQUIRED.items():
        if not values.get(name, "").strip():
            yield name, f"is not set: {advice}"


def check_secret_key(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    key = values.get("DJANGO_SECRET_KEY", "")
    if key and (problem := secret_key_problem(key)):
        yield "DJANGO_SECRET_KEY", f"{problem}: {REQUIRED['DJANGO_SECRET_KEY']}"


def check_service_passwords(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """POSTGRES_PASSWORD, REDIS_PASSWORD and, when set (the Sentinel layout), Sentinel's
    CELERY_BROKER_SENTINEL_PASSWORD: long, unpublished, and URL-safe (compose puts them into
    the default DATABASE_URL and CELERY_BROKER_URL, and into Redis's and Sentinel's config)."""
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "CELERY_BROKER_SENTINEL_PASSWORD"):
        password = values.get(name, "")
        if not password:
            continue
        if any(known in password for known in KNOWN_PASSWORDS):
            yield name, f"is a password published in this repository: {GENERATE_PASSWORD}"
        elif len(password) < MIN_PASSWORD_LENGTH:
            yield (
                name,
                f"has {len(password)} characters, fewer than {MIN_PASSWORD_LENGTH}: "
                f"{GENERATE_PASSWORD}",
            )
        elif not URL_SAFE.fullmatch(password):
            yield (
                name,
                "has characters that break the URL and the Redis configuration it goes "
                f"into (use letters, digits, '-', '_', '.', '~'): {GENERATE_PASSWORD}",
            )


def check_basic_auth(name: str, credentials: str) -> Iterator[tuple[str, str]]:
    pairs = [pair.strip() for pair in credentials.split(",") if pair.strip()]
    if any(":" not in pair for pair in pairs):
        yield name, "must be user:password, or several of them separated by commas"
    elif weak := weak_password_users(pairs):
        yield (
            name,
            f"has a placeholder or short password for {', '.join(weak)}: use "
            f"{MIN_PASSWORD_LENGTH} characters or more, {GENERATE_PASSWORD}",
        )


def check_flower(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    if credentials := values.get("FLOWER_BASIC_AUTH", "").strip():
        yield from check_basic_auth("FLOWER_BASIC_AUTH", credentials)


def check_tracking(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    tracking = values.get("EMAIL_TRACKING_ENABLED", "").strip().lower() in TRUE
    secret = values.get("ANYMAIL_WEBHOOK_SECRET", "").strip()
    if tracking and not secret:
        yield (
            "ANYMAIL_WEBHOOK_SECRET",
            "is empty but EMAIL_TRACKING_ENABLED is on: set user:password (the provider's "
            f"webhook URL carries the same), the password from {generate_command(32)}",
        )
    elif secret:
        yield from check_basic_auth("ANYMAIL_WEBHOOK_SECRET", secret)
    backend = values.get("EMAIL_BACKEND", "")
    if tracking and ".mailgun." in backend and not values.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
        yield (
            "MAILGUN_WEBHOOK_SIGNING_KEY",
            "is empty but Mailgun's tracking webhooks are on: copy the HTTP webhook "
            "signing key from Mailgun's dashboard",
        )


def check_metrics_token(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    token = values.get("METRICS_TOKEN", "")
    if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
        yield (
            "METRICS_TOKEN",
            f"has {len(token)} characters, fewer than {MIN_METRICS_TOKEN_LENGTH}: make one "
            f"with {generate_command(32)}, or leave it empty to serve no /metrics",
        )


def check_site(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    hosts = [host.strip() for host in values.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
    if "*" in hosts:
        yield "DJANGO_ALLOWED_HOSTS", "may not contain '*': list the site's host names"
    for name in ("DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS", "DEFAULT_FROM_EMAIL"):
        if EXAMPLE_DOMAIN in values.get(name, ""):
            yield name, f"still names the example's {EXAMPLE_DOMAIN}: use your own domain"
    if values.get("DJANGO_DEBUG", "").strip().lower() in TRUE:
        yield "DJANGO_DEBUG", "must be off in production: set False (debug pages show settings)"


def check_email_provider(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    backend = values.get("EMAIL_BACKEND", "").strip()
    if not backend:
        yield (
            "EMAIL_BACKEND",
            "is empty, so report emails would only be written to the worker's log: set "
            "your provider's Anymail backend (see .env.prod.example)",
        )
        return
    parts = backend.split(".")
    if len(parts) == 4 and parts[:2] == ["anymail", "backends"]:
        needed = PROVIDER_CREDENTIALS.get(parts[2])
        if needed and not values.get(needed, "").strip():
            yield needed, f"is empty, and {backend} cannot send without it: set it"


def check_redis_memory(values: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    size = values.get("REDIS_MAXMEMORY", "").strip()
    if not size:
        return
    if not REDIS_MEMORY.fullmatch(size):
        yield "REDIS_MAXMEMORY", "must be a size Redis reads, e.g. 512mb or 2gb"
    elif int(re.match(r"\d+", size)[0]) == 0:
        yield (
            "REDIS_MAXMEMORY",
            "is 0, which lets the queues take all the host's memory: give a size, e.g. 512mb",
        )


RULES: list[Callable[[Mapping[str, str]], Iterator[tuple[str, str]]]] = [
    check_required,
    check_secret_key,
    check_service_passwords,
    check_flower,
    check_tracking,
    check_metrics_token,
    check_site,
    check_email_provider,
    check_redis_memory,
]


def problems(values: Mapping[str, str]) -> Problems:
    """Every problem with `values`, at most one per variable: a placeholder (the example's
    "change-me" anywhere), else what the first rule that objects says."""
    found: dict[str, str] = {}
    for name, value in values.items():
        # The default URLs carry the passwords: the password's problem is the one to fix.
        derived_from = DERIVED.get(name)
        if derived_from and PLACEHOLDER in values.get(derived_from, ""):
            continue
        if PLACEHOLDER in value:
            advice = REQUIRED.get(name, "set the real value")
            found[name] = f'still holds the example\'s "{PLACEHOLDER}": {advice}'
    for rule in RULES:
        for name, problem in rule(values):
            found.setdefault(name, problem)
    # By name: the same list from the env file on the host and from the container's
    # environment, whatever order each comes in.
    return sorted(found.items())


# THE ENV FILE, AS COMPOSE READS IT
# ------------------------------------------------------------------------------

ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")


class EnvFileError(Exception):
    pass


def unquote(raw: str, where: str) -> str:
    """A value as compose's env-file parser returns it: quotes removed, a comment after
    an unquoted value (" #...") dropped. ${...} is left as written: compose expands it,
    and the preflight service then checks the result."""
    if raw[:1] in {"'", '"'}:
        quote = raw[0]
        end = raw.find(quote, 1)
        while quote == '"' and end > 0 and raw[end - 1] == "\\":
            end = raw.find(quote, end + 1)
        if end < 0:
            raise EnvFileError(f"{where}: the quote is not closed on this line")
        value = raw[1:end]
        if quote == '"':
            value = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), value)
        return value
    return re.split(r"\s#", raw, maxsplit=1)[0].strip()


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as error:
        raise EnvFileError(f"cannot read {path}: {error.strerror}") from error
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not (match := ASSIGNMENT.match(line)):
            raise EnvFileError(f"{path}:{number}: not NAME=value")
        values[match[1]] = unquote(match[2].strip(), f"{path}:{number}")
    return values


def names_compose_passes() -> set[str]:
    """Every variable docker-compose.prod.yml passes or interpolates, and the example's."""
    compose = COMPOSE_FILE.read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose))
    names |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):", compose, flags=re.MULTILINE))
    example = EXAMPLE_FILE.read_text()
    names |= set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    return names


def file_problems(values: Mapping[str, str], path: Path) -> Problems:
    """On the host: a variable in the file that no container gets (a misspelling, or one
    added without adding it to the compose file)."""
    known = names_compose_passes()
    return [
        (
            name,
            f"is in {path.name}, but no container gets it: check the spelling, or list it "
            "in docker-compose.prod.yml (its header says how)",
        )
        for name in values
        if name not in known and not name.startswith(COMPOSE_OWN)
    ]


def defaulted(values: Mapping[str, str]) -> list[str]:
    """The example's variables the file leaves out (e.g. added since it was copied)."""
    example = re.findall(r"^([A-Z][A-Z0-9_]*)=", EXAMPLE_FILE.read_text(), flags=re.MULTILINE)
    return [name for name in example if name not in values]


# REPORTING
# ------------------------------------------------------------------------------


def report(found: Problems, source: str, check_again: str) -> str:
    lines = [f"preflight: {len(found)} problem(s) in {source}:"]
    lines += [f"  {name} {problem}" for name, problem in found]
    if any(name == "POSTGRES_PASSWORD" for name, _ in found):
        lines.append(
            "preflight: a postgres-data volume that already exists keeps the password it "
            "was created with; to change it see docs/docker.md (Production: a database created "
            "with another password)."
        )
    lines.append(f"preflight: fix them in the env file, then check again: {check_again}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env-file",
        type=Path,
        help="check this file (as compose reads it); default: this process's environment",
    )
    args = parser.parse_args(argv)

    if args.env_file is None:
        values = dict(os.environ)
        found = problems(values)
        source = "the environment compose passed (nothing else was started)"
        check_again = "ops/scripts/check-prod-env.sh .env.prod (on the host)"
    else:
        try:
            values = read_env_file(args.env_file)
        except EnvFileError as error:
            print(f"preflight: {error}", file=sys.stderr)
            return 2
        found = problems(values) + file_problems(values, args.env_file)
        source = str(args.env_file)
        check_again = f"ops/scripts/check-prod-env.sh {args.env_file}"
        if left_out := defaulted(values):
            print(
                f"preflight: not in {args.env_file}, so their defaults apply (see "
                f".env.prod.example): {', '.join(left_out)}"
            )

    if found:
        print(report(found, source, check_again), file=sys.stderr)
        return 1
    print(f"preflight: {source}: no problems found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
