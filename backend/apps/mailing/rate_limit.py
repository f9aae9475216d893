"""One send rate for the whole deployment: EMAIL_RATE_LIMIT sends per second, however
many email workers and threads send, with the next free slot kept in Redis.

Each send reserves the next slot in one atomic script (the generic cell rate algorithm,
no burst): slots are 1/EMAIL_RATE_LIMIT seconds apart, timed by Redis's own clock, so
the workers' clocks do not matter and nobody polls. The sender then waits for its slot.
Slots are spaced SPACING_MARGIN wider than the limit: a request reaches the provider a
few milliseconds after its slot, and not always the same few.

A provider's 429 pushes the next slot past its Retry-After, so every sender waits, not
only the one that was refused. A slot further away than MAX_WAIT is not reserved:
the delivery is put back, due at that time, without counting an attempt.

Counting libraries (limits, redis-cell) answer yes or no and leave the caller to poll
and sleep; a reservation answers how long to wait, once.
"""

import logging
import math
import time

import redis
from django.conf import settings

from core.broker_redis import broker_redis

logger = logging.getLogger(__name__)

KEY = "commission:email:next-send-slot"
SPACING_MARGIN = 0.05
# Seconds a claimed delivery may wait for its slot in the sending thread.
MAX_WAIT = 10.0

# KEYS[1]: the next free slot, microseconds of Redis's clock. ARGV: the spacing and the
# longest wait, in microseconds. Returns {1, wait} with the slot reserved, or {0, wait}.
RESERVE = """
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return {0, wait}
end
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000) + 1000)
return {1, wait}
"""

# ARGV[1]: microseconds from now before which nobody sends.
PAUSE = """
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local until_ = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now + tonumber(ARGV[1]))
redis.call('SET', KEYS[1], until_, 'PX', math.ceil((until_ - now) / 1000) + 1000)
return until_ - now
"""


class NotYourTurn(Exception):
    """The delivery cannot be sent now without going over the rate (or Redis, which
    keeps the rate, did not answer); it is due again in `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


def enabled() -> bool:
    return settings.EMAIL_RATE_LIMIT > 0


def wait_for_turn() -> float:
    """Reserve this send's slot and wait for it; the seconds waited. Raises NotYourTurn."""
    if not enabled():
        return 0.0
    spacing = (1 + SPACING_MARGIN) / settings.EMAIL_RATE_LIMIT
    try:
        reserved, wait_us = broker_redis().eval(RESERVE, 1, KEY, _micro(spacing), _micro(MAX_WAIT))
    except redis.RedisError as exc:
        raise NotYourTurn(f"The send rate could not be checked in Redis: {exc}", 5.0) from exc
    wait = wait_us / 1e6
    if not reserved:
        raise NotYourTurn(f"The send rate ({settings.EMAIL_RATE_LIMIT}/s) is taken.", wait)
    if wait > 0:
        time.sleep(wait)  # this thread's slot; other threads keep sending
    return wait


def pause(seconds: float) -> None:
    """Nobody sends for `seconds` (the provider said so); best effort."""
    if not enabled():
        return
    try:
        broker_redis().eval(PAUSE, 1, KEY, _micro(seconds))
    except redis.RedisError as exc:
        logger.warning("Could not pause sending for %.1f s in Redis: %s", seconds, exc)


def _micro(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)
