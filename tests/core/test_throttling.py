"""Admin login throttling (core/throttling.py): per user name and address, per address
alone for spraying, and the client's address behind a known number of proxies."""

import pytest
from django.test import RequestFactory

from core.throttling import client_ip
from tests.factories import UserFactory

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "the-right-password-123"
PROXY = "172.18.0.1"
WRONG = "guess"


@pytest.fixture
def staff():
    user = UserFactory(username="target", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(client, username: str, password: str = WRONG, **meta: str) -> int:
    return client.post(LOGIN, {"username": username, "password": password}, **meta).status_code


def logs_in(client, username: str, **meta: str) -> bool:
    client.logout()
    status = attempt(client, username, PASSWORD, **meta)
    return status == 302 and "_auth_user_id" in client.session


# THE CLIENT'S ADDRESS
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        # Nothing in front: the connection's address, whatever the header says.
        (0, "198.51.100.7", "10.0.0.9"),
        (0, None, "10.0.0.9"),
        # One proxy: what it appended; what the client wrote before it is not read.
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),
        (1, "2001:db8::7", "2001:db8::7"),
        # Two proxies: the entry the outer one wrote, left of the inner proxy's.
        (2, "6.6.6.6, 198.51.100.7, 192.0.2.1", "198.51.100.7"),
        # A request that did not pass every proxy, or a proxy that wrote no address.
        (1, None, "10.0.0.9"),
        (2, "198.51.100.7", "10.0.0.9"),
        (1, "unknown", "10.0.0.9"),
    ],
)
def test_the_client_address_behind_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.0.0.9", **headers)

    assert client_ip(request) == expected


def test_no_proxy_is_trusted_by_default(settings):
    assert settings.TRUSTED_PROXY_COUNT == 0


# PER USER NAME AND ADDRESS
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lockout_from_one_address_leaves_the_same_user_free_from_another(client, settings, staff):
    here, there = {"REMOTE_ADDR": "203.0.113.1"}, {"REMOTE_ADDR": "203.0.113.2"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "target", **here) == 200
    assert attempt(client, "target", **here) == 429
    assert attempt(client, "target", PASSWORD, **here) == 429

    assert logs_in(client, "target", **there)


@pytest.mark.django_db
def test_behind_one_proxy_the_forwarded_address_is_the_client(client, settings, staff):
    settings.TRUSTED_PROXY_COUNT = 1
    here = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        last = attempt(client, "target", **here)
    assert last == 429
    # A value the client put in front of the proxy's does not make it someone else.
    forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.8, 198.51.100.7"}
    assert attempt(client, "target", PASSWORD, **forged) == 429

    # Another client through the same proxy is not locked out with the first.
    assert logs_in(client, "target", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.8")


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(client, settings, staff):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for number in range(settings.AXES_FAILURE_LIMIT):
        last = attempt(
            client, "target", REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR=f"6.6.6.{number}"
        )
    assert last == 429
    assert (
        attempt(
            client,
            "target",
            PASSWORD,
            REMOTE_ADDR="203.0.113.1",
            HTTP_X_FORWARDED_FOR="198.51.100.99",
        )
        == 429
    )


# PER ADDRESS (SPRAYING)
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_address_guessing_across_user_names_is_stopped(client, settings, staff):
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    assert limit > settings.AXES_FAILURE_LIMIT
    here = {"REMOTE_ADDR": "203.0.113.1"}
    # One guess per user name never reaches the per-name limit ...
    answers = [attempt(client, f"user-{number}", **here) for number in range(limit)]

    # ... but the address's limit-th failure is refused, and so is everyone after it.
    assert answers == [200] * (limit - 1) + [429]
    assert attempt(client, "someone-new", **here) == 429
    assert attempt(client, "target", PASSWORD, **here) == 429

    # Other addresses are not affected.
    assert logs_in(client, "target", REMOTE_ADDR="203.0.113.2")


@pytest.mark.django_db
def test_a_successful_login_does_not_clear_its_address_record(client, settings, staff):
    """A guesser who knows one password cannot reset the address's count with it."""
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    here = {"REMOTE_ADDR": "203.0.113.1"}
    for number in range(limit - 1):
        assert attempt(client, f"user-{number}", **here) == 200
    assert logs_in(client, "target", **here)

    client.logout()
    assert attempt(client, "one-more", **here) == 429


@pytest.mark.django_db
def test_the_admin_login_is_throttled_after_repeated_failures(client, settings):
    user = UserFactory(username="target", is_staff=True)
    user.set_password("the-right-password-123")
    user.save()
    login = "/admin/login/?next=/admin/"

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = client.post(login, {"username": "target", "password": "guess"})
        assert answer.status_code == 200  # the form again, "please enter a correct ..."
    last = client.post(login, {"username": "target", "password": "guess"})
    assert last.status_code == 429

    locked = client.post(login, {"username": "target", "password": "the-right-password-123"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session

    other = client.post(login, {"username": "someone-else", "password": "guess"})
    assert other.status_code == 200  # the lockout is for that user name, not everyone
