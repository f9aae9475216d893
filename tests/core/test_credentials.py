"""Production's rule for secrets (core.credentials), one rule for the settings and for
Flower's config: passwords of 16 characters or more with no published one in them, and
signing keys as long and as varied as Django's deploy check asks. (The settings and
Flower applying it: test_settings.py, tests/ops/test_flowerconfig.py.)"""

import secrets

import pytest

from core.credentials import (
    DEVELOPMENT_SECRET_KEY,
    MIN_PASSWORD_LENGTH,
    MIN_SECRET_KEY_LENGTH,
    secret_key_problem,
    weak_password_users,
)

VARIED = "k7R2pQ9vX4mN8sT1wZ6yB3cF5hJ0lD2a-9Uq" * 2


def test_only_the_users_with_a_weak_password_are_named():
    strong = secrets.token_urlsafe(MIN_PASSWORD_LENGTH)[:MIN_PASSWORD_LENGTH]
    credentials = [
        f"ops:{strong}",
        f"short:{strong[:-1]}",  # one character too few
        f"published:{strong}-commission-demo",  # a published password inside a long one
        f"placeholder:change-me-{strong}",
        f"colons:ab:{strong[:-3]}",  # the password is all after the first colon
        "nopassword",
    ]

    assert weak_password_users(credentials) == [
        "short",
        "published",
        "placeholder",
        "nopassword",
    ]
    assert weak_password_users([]) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (DEVELOPMENT_SECRET_KEY, "is a known placeholder"),
        ("x" * 60 + "change-me", "is a known placeholder"),
        ("django-insecure-" + "k7R2pQ9vX4mN8sT1wZ6yB3cF5hJ0lD2a-9Uq", "is a known placeholder"),
        (VARIED[: MIN_SECRET_KEY_LENGTH - 1], "has 49 characters, fewer than 50"),
        ("abcd" * 13, "has fewer than 5 different characters"),
        (VARIED[:MIN_SECRET_KEY_LENGTH], None),
        ("abcde" * 10, None),
    ],
    ids=["development", "placeholder", "django-insecure", "49", "4-different", "50", "5-different"],
)
def test_a_secret_key_is_long_varied_and_nobody_elses(key, problem):
    assert secret_key_problem(key) == problem
