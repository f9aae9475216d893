"""A worker keeps its HTTP connection to the provider between sends, and starts afresh
after any failure, in another process, after idling, or for another backend.

In this process, through Anymail's real Postmark backend and a stand-in that keeps
connections alive as the real API does; each request's client address tells which
connection carried it.
"""

import pytest

from apps.mailing import provider_connection
from apps.mailing.models import EmailDelivery
from apps.mailing.send_errors import TransientEmailError
from apps.mailing.sending import send_delivery
from apps.mailing.services import create_delivery
from tests.support.fake_provider import postmark_error, running_fake_postmark

pytestmark = pytest.mark.django_db


def no_wait(attempts: int) -> float:
    return 1.0


@pytest.fixture
def postmark(settings):
    with running_fake_postmark(keep_alive=True) as fake:
        fake.send_here(settings)
        yield fake
        provider_connection.discard()


def send(key: str) -> str:
    delivery, _ = create_delivery(
        idempotency_key=f"test:{key}", to_email=f"{key}@example.com", subject=key, body_text="x"
    )
    return send_delivery(delivery.pk, task_id=f"task-{key}", backoff=no_wait)


def clients(fake) -> list:
    return [request.client for request in fake.requests()]


def test_consecutive_sends_share_one_connection(postmark):
    assert [send("a"), send("b"), send("c")] == ["sent"] * 3
    first, second, third = clients(postmark)
    assert first == second == third
    assert EmailDelivery.objects.filter(status=EmailDelivery.Status.SENT).count() == 3


def test_a_failed_send_drops_the_connection(postmark):
    postmark.script(postmark_error(503, 0, "Service unavailable"))
    with pytest.raises(TransientEmailError):
        send("fails")
    assert send("next") == "sent"
    assert send("after") == "sent"
    failed, fresh, reused = clients(postmark)
    assert fresh != failed
    assert reused == fresh


def test_another_process_opens_its_own(postmark, monkeypatch):
    send("parent")
    real_pid = provider_connection.os.getpid()
    monkeypatch.setattr(provider_connection.os, "getpid", lambda: real_pid + 1)
    send("child")
    parent, child = clients(postmark)
    assert child != parent


def test_an_idle_connection_is_not_reused(postmark, monkeypatch):
    send("before")
    monkeypatch.setattr(provider_connection, "IDLE_SECONDS", -1.0)
    send("after")
    before, after = clients(postmark)
    assert after != before


def test_other_backends_open_per_send(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with provider_connection.kept_backend() as kept:
        assert kept is None
