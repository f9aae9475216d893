"""Credentials in a request's Authorization header (core.http_auth), read from the headers
alone: basic auth against any of several user:password pairs (a rotation), a bearer
token; anything malformed is no match, never an error. (Behind the tracking webhook and
/metrics: tests/mailing/test_webhooks.py, tests/core/test_metrics.py.)"""

import base64

import pytest
from django.test import RequestFactory

from core.http_auth import basic_auth_matches, bearer_token_matches

ALLOWED = ["hook:new-password-0123456789", "hook:old-password-0123456789"]


def asking(authorization: str | None):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return RequestFactory().post("/", **headers)


def basic(credentials: str, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(credentials.encode()).decode()}"


@pytest.mark.parametrize(
    ("authorization", "matches"),
    [
        (basic(ALLOWED[0]), True),
        (basic(ALLOWED[1]), True),  # the old password, while it is rotated out
        (basic(ALLOWED[0], scheme="basic"), True),  # the scheme's case does not matter
        (basic("hook:new-password-012345678"), False),
        (basic("other:new-password-0123456789"), False),
        (basic(ALLOWED[0] + ","), False),
        (basic(ALLOWED[0], scheme="Bearer"), False),
        ("Basic not*base64", False),
        ("Basic ", False),
        ("Basic Zm9vOmJhcg==" + "\udcff", False),  # undecodable bytes: no match, no error
        (None, False),
    ],
    ids=[
        "first",
        "second",
        "lowercase scheme",
        "wrong password",
        "wrong user",
        "more after",
        "as bearer",
        "not base64",
        "empty",
        "stray byte",
        "none",
    ],
)
def test_basic_auth_matches_any_allowed_pair_and_nothing_else(authorization, matches):
    assert basic_auth_matches(asking(authorization), ALLOWED) is matches


def test_nobody_matches_when_nothing_is_allowed():
    assert basic_auth_matches(asking(basic(ALLOWED[0])), []) is False


@pytest.mark.parametrize(
    ("authorization", "matches"),
    [
        ("Bearer s3cret-token", True),
        ("bearer s3cret-token", True),
        ("Bearer  s3cret-token ", True),  # spaces around the token
        ("Bearer s3cret-toke", False),
        ("Bearer s3cret-tokenx", False),
        ("Basic s3cret-token", False),
        ("Bearer ", False),
        ("s3cret-token", False),
        (None, False),
    ],
)
def test_a_bearer_token_matches_only_itself(authorization, matches):
    assert bearer_token_matches(asking(authorization), "s3cret-token") is matches
