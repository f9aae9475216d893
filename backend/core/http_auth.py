"""Credentials in a request's Authorization header, compared in constant time.

Read from the headers alone, so a caller without credentials is refused before its
body is read or parsed. Every allowed value is compared (not only up to the first
match), so the time taken says nothing about which one matched or how much of it.
"""

import base64
import binascii
import hmac
from collections.abc import Iterable

from django.http import HttpRequest


def _authorization(request: HttpRequest, scheme: str) -> bytes | None:
    """The credentials after `scheme` in the Authorization header (as bytes), or None."""
    given_scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if given_scheme.lower() != scheme.lower() or not credentials.strip():
        return None
    return credentials.strip().encode("utf-8", "surrogateescape")


def basic_auth_matches(request: HttpRequest, allowed: Iterable[str]) -> bool:
    """Whether the request carries HTTP basic auth equal to one of `allowed`
    ("user:password" strings); nothing allowed means nobody matches."""
    encoded = _authorization(request, "Basic")
    if encoded is None:
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    matched = False
    for secret in allowed:
        matched |= hmac.compare_digest(given, secret.encode("utf-8"))
    return matched


def bearer_token_matches(request: HttpRequest, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`."""
    given = _authorization(request, "Bearer")
    return given is not None and hmac.compare_digest(given, token.encode("utf-8"))
