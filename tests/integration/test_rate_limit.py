"""One send rate for every email worker (apps.mailing.rate_limit), on a real Redis, and
the provider's 429 as two real email workers meet it from the stand-in Postmark."""

import itertools

import pytest
import redis

from apps.mailing import rate_limit
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from apps.mailing.tasks import send_email_delivery
from core.broker_redis import broker_redis
from tests.support.processes import WorkerProcess, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

Status = EmailDelivery.Status
EMAILS = 24


@pytest.fixture
def shared_rate(settings, redis_url):
    """This process's sends keep their rate in the suite's Redis, emptied."""
    settings.CELERY_BROKER_URL = redis_url
    settings.EMAIL_RATE_LIMIT = 50
    broker_redis().delete(rate_limit.KEY)
    yield
    broker_redis().delete(rate_limit.KEY)


def next_slot() -> int:
    return int(broker_redis().get(rate_limit.KEY))


def test_each_send_takes_the_next_slot_one_spacing_later(shared_rate):
    spacing_us = round(1_000_000 * (1 + rate_limit.SPACING_MARGIN) / 50)
    slots = []
    for _ in range(4):
        rate_limit.wait_for_turn()
        slots.append(next_slot())

    assert [b - a for a, b in itertools.pairwise(slots)] == [spacing_us] * 3


def test_a_pause_holds_every_sender_and_a_slot_too_far_is_not_taken(shared_rate):
    rate_limit.pause(60)
    paused_until = next_slot()

    with pytest.raises(rate_limit.NotYourTurn) as refused:
        rate_limit.wait_for_turn()

    assert 50 < refused.value.retry_in <= 60
    assert next_slot() == paused_until  # nothing reserved


def test_a_redis_away_puts_the_send_off_rather_than_over_the_rate(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.EMAIL_RATE_LIMIT = 50

    with pytest.raises(rate_limit.NotYourTurn) as refused:
        rate_limit.wait_for_turn()

    assert "could not be checked" in str(refused.value)


def test_off_by_default_it_asks_redis_nothing(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert settings.EMAIL_RATE_LIMIT == 0

    assert rate_limit.wait_for_turn() == 0
    rate_limit.pause(60)  # no error: nothing to pause


@pytest.fixture
def two_email_workers(fake_postmark, worker_pool, request):
    """Two email workers (threads, as production runs them) sending to the stand-in,
    with EMAIL_RATE_LIMIT as the test's parameter says; stopped afterwards."""
    fake_postmark.reset()
    worker_pool.stop("email")
    env = {
        **worker_pool.common_env,
        **fake_postmark.worker_env(),
        "EMAIL_RATE_LIMIT": str(request.param),
    }
    redis.Redis.from_url(env["CELERY_BROKER_URL"]).delete(rate_limit.KEY)
    workers = [
        WorkerProcess(
            worker_pool.app,
            "email",
            env,
            worker_pool.workdir / f"rate-limited-{n}-{request.param}.log",
            nodename=f"email-rate-{n}@test",
        )
        for n in (1, 2)
    ]
    yield fake_postmark
    for worker in workers:
        worker.stop()
    fake_postmark.reset()
    fake_postmark.rate_limit = 0


def send_all(count: int) -> list[EmailDelivery]:
    deliveries = [
        create_delivery(
            idempotency_key=f"test:rate:{n}",
            to_email=f"manager{n}@example.com",
            subject=f"Report {n}",
            body_text="Plain text body",
        )[0]
        for n in range(count)
    ]
    for delivery in deliveries:
        send_email_delivery.delay(delivery.pk)
    return deliveries


def sent_once_each(provider, deliveries: list[EmailDelivery]) -> list[EmailDelivery]:
    """Wait until every delivery is SENT; each was accepted exactly once."""
    ids = [delivery.pk for delivery in deliveries]
    wait_for(
        lambda: EmailDelivery.objects.filter(pk__in=ids, status=Status.SENT).count() == len(ids),
        timeout=90,
        what=f"{len(ids)} deliveries sent",
    )
    recipients = sorted(request.recipient for request in provider.accepted)
    assert recipients == sorted(delivery.to_email for delivery in deliveries)
    return list(EmailDelivery.objects.filter(pk__in=ids))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("two_email_workers", [4], indirect=True)
def test_two_workers_together_stay_under_the_limit(two_email_workers):
    """Eight threads in two processes could send 24 emails in a moment, and two workers
    each keeping 4 a second alone would send 8; shared, they keep to 4, and the stand-in,
    limited to 5 (set "a little under the provider's own limit", as the docs say), refuses
    none. Limited to 4, only the slots' 5% margin (50 ms) would absorb a loaded machine's
    scheduling jitter, and CI once saw more; at 5 it is 312 ms."""
    provider = two_email_workers
    provider.rate_limit = 5

    sent = sent_once_each(provider, send_all(EMAILS))

    assert provider.too_many() == []
    assert {delivery.attempts for delivery in sent} == {1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("two_email_workers", [0], indirect=True)
def test_without_the_limit_the_providers_429s_are_waited_out_not_failures(two_email_workers):
    provider = two_email_workers
    provider.rate_limit = 4

    sent = sent_once_each(provider, send_all(EMAILS))

    assert provider.too_many(), "eight threads at once must have gone over 4 a second"
    assert {delivery.attempts for delivery in sent} == {1}
    assert all(delivery.last_error == "" for delivery in sent)
