"""What production accepts as a secret: one rule for the settings and Flower's config.

Plain Python, no Django: ops/flower/flowerconfig.py uses it too, and Flower runs that file
after `celery -A core` has imported this package (ops/start/flower), so it finds it.
"""

from collections.abc import Iterable

# .env.prod.example marks every secret with it (ops/docker/entrypoint refuses it too).
PLACEHOLDER = "change-me"
# Passwords anyone can read here: the placeholder, and the development login of the demo
# admin and of docker-compose.yml's Flower.
KNOWN_PASSWORDS = (PLACEHOLDER, "commission-demo")
MIN_PASSWORD_LENGTH = 16
# Django's own bar for a signing key (`check --deploy`, security.W009).
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5
# What settings.py signs with in development; public, so never a production key.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105
# `startproject` writes keys with this prefix; Django's deploy check flags them.
DJANGO_INSECURE_PREFIX = "django-insecure-"


def generate_command(nbytes: int) -> str:
    """The command a refusal suggests: it prints a URL-safe random value (a key, a password)."""
    return f'python3 -c "import secrets; print(secrets.token_urlsafe({nbytes}))"'


def weak_password(password: str | None) -> bool:
    """Missing, shorter than MIN_PASSWORD_LENGTH, or holding a published one."""
    password = password or ""
    return len(password) < MIN_PASSWORD_LENGTH or any(
        known in password for known in KNOWN_PASSWORDS
    )


def weak_password_users(credentials: Iterable[str]) -> list[str]:
    """The user names of "user:password" credentials whose password is weak_password (the
    password itself is never named)."""
    return [
        user
        for user, _, password in (credential.partition(":") for credential in credentials)
        if weak_password(password)
    ]


def secret_key_problem(key: str) -> str | None:
    """Why `key` must not sign production's sessions and tokens, or None when it may."""
    placeholder = PLACEHOLDER in key or key.startswith(DJANGO_INSECURE_PREFIX)
    if placeholder or key == DEVELOPMENT_SECRET_KEY:
        return "is a known placeholder"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"has {len(key)} characters, fewer than {MIN_SECRET_KEY_LENGTH}"
    if len(set(key)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS:
        return f"has fewer than {MIN_SECRET_KEY_UNIQUE_CHARACTERS} different characters"
    return None
