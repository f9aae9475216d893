"""The faults, and the scenarios made of them.

A fault waits for its moment in the run (a share of the managers reached some step),
then breaks something real. Triggers poll with a deadline; the only fixed pauses are
those that space the faults of the all-together scenario apart.
"""

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from tests.faults import product
from tests.faults.stack import REQUESTS_TIMEOUT, socket_owner
from tests.support.fake_provider import Reply, postmark_error

if TYPE_CHECKING:
    from tests.faults.run import Run

# A reply that accepts the message but comes after the client gave up.
LATE_REPLY = REQUESTS_TIMEOUT * 2.5
# A reply slow enough to kill the sender while its request is in flight.
SLOW_REPLY = 1.0


def redis_kill(run: "Run", after: float = 1 / 3) -> None:
    """kill -9 redis-server once `after` of the managers have a delivery row; restart it
    at once on the same port and data directory (AOF, fsync every second)."""
    run.until(
        lambda: product.delivery_count() >= run.share(after),
        f"{run.share(after)} delivery rows",
    )
    rows = product.delivery_count()
    run.stack.redis.kill9()
    run.fault(f"redis-server kill -9 ({rows} delivery rows, {run.accepted()} accepted)")
    run.stack.redis.start()
    run.note("redis-server restarted from its AOF")


def postgres_restart(run: "Run", after: float = 1 / 3) -> None:
    """`pg_ctl restart -m fast` once `after` of the managers have a delivery row."""
    run.until(
        lambda: product.delivery_count() >= run.share(after),
        f"{run.share(after)} delivery rows",
    )
    run.fault(f"PostgreSQL restart -m fast ({run.accepted()} accepted)")
    run.stack.postgres.restart()
    run.note("PostgreSQL is back")


def _sending_process(run: "Run") -> int | None:
    """The email worker's process whose request the provider is holding, if any: the
    worker itself in its threads pool, a pool child in a prefork one."""
    worker = run.stack.email_worker
    processes = [worker.pid, *worker.children()]
    for request in run.stack.provider.in_flight():
        if request.client and request.reply.delay:
            pid = socket_owner(request.client, processes)
            if pid is not None:
                return pid
    return None


def sender_kill(run: "Run", after: float = 1 / 4) -> None:
    """kill -9 the email process that is in the middle of a send: the next replies are
    slowed down to open the window, and the process holding the connection is found
    through /proc. With the threads pool that is the whole worker, every send in flight
    with it; restarted as compose would."""
    run.until(lambda: run.accepted() >= run.share(after), f"{run.share(after)} accepted")
    run.stack.provider.script_more(*[Reply(delay=SLOW_REPLY)] * 4)
    pid = run.until(lambda: _sending_process(run), "a send in flight from an email process")
    os.kill(pid, signal.SIGKILL)
    run.fault(f"email process {pid} kill -9 mid send ({run.accepted()} accepted)")


def email_worker_kill(run: "Run", after: float = 1 / 3) -> None:
    """kill -9 the whole email worker (main process and pool children), then start a new
    one as production would (`ops/start/worker email`)."""
    run.until(lambda: run.accepted() >= run.share(after), f"{run.share(after)} accepted")
    worker = run.stack.email_worker
    children = worker.children()
    worker.kill9()
    run.fault(
        f"email worker kill -9 (main {worker.pid}, {len(children)} children; "
        f"{run.accepted()} accepted)"
    )
    run.stack.start_email_worker()
    run.stack.wait_ready(("email",))
    run.note("a new email worker is up")


def provider_503_burst(run: "Run", requests: int = 40, after: float = 1 / 6) -> None:
    """The provider answers the next `requests` requests with 503."""
    run.until(lambda: run.accepted() >= run.share(after), f"{run.share(after)} accepted")
    unavailable = postmark_error(503, 0, "Service unavailable")
    run.stack.provider.script_more(*[unavailable] * requests)
    run.fault(f"provider 503 for the next {requests} requests ({run.accepted()} accepted)")


def late_accepts(run: "Run", messages: int = 10, after: float = 1 / 6) -> None:
    """The provider accepts the next `messages` messages but answers after the client's
    timeout (its webhook still follows when tracking is on)."""
    run.until(lambda: run.accepted() >= run.share(after), f"{run.share(after)} accepted")
    run.stack.provider.script_more(*[Reply(delay=LATE_REPLY)] * messages)
    run.fault(
        f"provider accepts the next {messages} messages, answers after {LATE_REPLY:.0f}s "
        f"(client timeout {REQUESTS_TIMEOUT}s; {run.accepted()} accepted)"
    )


def master_kill(run: "Run", after: float = 1 / 3, comes_back: bool = True) -> None:
    """kill -9 the Redis master once `after` of the managers have a delivery row (its
    host dies); Sentinel promotes the replica and every part must find it by itself.
    With `comes_back`, the old master is started again once the new one is in charge
    (Sentinel turns it into a replica); without, it is gone for good."""
    cluster = run.cluster
    run.until(
        lambda: product.delivery_count() >= run.share(after),
        f"{run.share(after)} delivery rows",
    )
    old, promoted = cluster.master_port, cluster.replica_port
    run.failover["killed_at"] = time.monotonic()
    run.failover["accepted_at_kill"] = run.accepted()
    cluster.processes[old].send_signal(signal.SIGKILL)
    cluster.processes[old].wait(timeout=10)
    how = "restarted later as a replica" if comes_back else "never to return"
    run.fault(f"Redis master :{old} kill -9, {how} ({run.accepted()} accepted)")
    new = cluster.wait_until_settled(promoted, replicas=0)
    run.failover["promoted_at"] = time.monotonic()
    run.note(f"Sentinel promoted :{new} ({run.accepted()} accepted)")
    if comes_back:
        cluster.restart(old)
        cluster.wait_until_settled(new, replicas=1)
        run.note(f"the old master :{old} is back, as a replica of :{new}")


def pause(seconds: float) -> Callable[["Run"], None]:
    return lambda run: run.pause(seconds)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    faults: tuple[Callable[["Run"], None], ...]
    tracking: bool = True
    all_together: bool = False  # runs with the larger manager count
    # Seconds the stand-in takes for every other answer: a real provider's, where the
    # sending must outlast the faults' spacing (16 threads send 150 emails in about a
    # second at once).
    provider_latency: float = 0.0
    # The broker is a master, a replica and three Sentinels (tests/support/sentinel.py).
    sentinel: bool = False


SCENARIOS = (
    Scenario(
        "redis-kill",
        "Redis kill -9 a third into the fan-out, restarted at once from its AOF",
        (redis_kill,),
    ),
    Scenario("postgres-restart", "PostgreSQL restart -m fast mid run", (postgres_restart,)),
    Scenario(
        "sender-kill",
        "kill -9 the email process mid send, twice",
        (sender_kill, partial(sender_kill, after=1 / 2)),
    ),
    Scenario(
        "worker-kill",
        "kill -9 the whole email worker mid run, then start a new one",
        (email_worker_kill,),
    ),
    Scenario("provider-503", "the provider answers 503 to 40 requests", (provider_503_burst,)),
    Scenario(
        "late-accept-tracking",
        "the provider accepts 10 messages but answers after the client's timeout",
        (late_accepts,),
    ),
    Scenario(
        "late-accept-no-tracking",
        "the same without tracking: duplicates allowed (documented), reported",
        (late_accepts,),
        tracking=False,
    ),
    Scenario(
        "sentinel-master-kill",
        "Redis behind Sentinel: kill -9 the master a third in, the replica is promoted, "
        "the old master returns as a replica; the provider answers in 0.2 s",
        (master_kill,),
        provider_latency=0.2,
        sentinel=True,
    ),
    Scenario(
        "sentinel-master-gone",
        "Redis behind Sentinel: the master's host is gone for good a third in; the "
        "provider answers in 0.2 s",
        (partial(master_kill, comes_back=False),),
        provider_latency=0.2,
        sentinel=True,
    ),
    Scenario(
        "all-together",
        "503 burst, Redis kill -9, sender kill -9, PostgreSQL restart, late accepts, "
        "email worker kill -9; the provider answers in 0.3 s",
        (
            partial(provider_503_burst, requests=40, after=0.05),
            partial(redis_kill, after=1 / 4),
            pause(1),
            partial(sender_kill, after=0),
            pause(1),
            partial(postgres_restart, after=0),
            pause(1),
            partial(late_accepts, messages=8, after=0),
            pause(2),
            partial(email_worker_kill, after=0),
        ),
        all_together=True,
        provider_latency=0.3,
    ),
)


def select(only: str) -> list[Scenario]:
    """The scenarios named in `only` (comma-separated), or all of them."""
    if not only:
        return list(SCENARIOS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return [known[name] for name in names]
