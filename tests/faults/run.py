"""One scenario: fresh state, the monthly fan-out, its faults, and the count.

The count is the provider's: every accepted message carries the metadata the product
sends with each report email ({"manager_id", "period", "delivery_id"}). A manager with
no accepted email when the scenario ends is lost; every accepted email beyond a
manager's first is a duplicate.
"""

import contextlib
import shutil
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tests.faults import product
from tests.faults.stack import RUN_DB, Stack
from tests.support.processes import REPO_DIR
from tests.support.sentinel import SentinelCluster, sentinel_cluster
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.faults.scenarios import Scenario

T = TypeVar("T")

# Seconds between the provider accepting a message and its Delivery webhook: later than
# the client's timeout plus the first retry's countdown, as real events often are.
WEBHOOK_DELAY = 5.0
# Every scenario's logs are copied here (the previous run's are removed first).
LOGS_DIR = REPO_DIR / "var" / "faults" / "logs"
_STOPPED = object()


class FaultNotInjected(Exception):
    """A fault's moment never came (the run was over, or its trigger timed out)."""


@dataclass
class Run:
    """What a scenario's faults see while the fan-out runs."""

    name: str
    stack: Stack
    managers: list[int]
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    injected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # A Sentinel scenario's broker, and the moments of its failover (time.monotonic()).
    cluster: SentinelCluster | None = None
    failover: dict = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, message: str) -> None:
        print(f"  {self.elapsed():6.1f}s  {message}", flush=True)

    def fault(self, message: str) -> None:
        """Record a fault that was injected (too late to matter if every email was in)."""
        self.injected.append(f"{self.elapsed():.1f}s {message}")
        self.note(f"FAULT {message}")
        if not missing(self.stack, self.managers):
            self.problems.append(f"{message} came after every email had arrived: proves nothing")

    def accepted(self) -> int:
        return len(self.stack.provider.accepted)

    def share(self, fraction: float) -> int:
        """That fraction of the managers, at least one."""
        return max(1, round(len(self.managers) * fraction))

    def until(self, condition: Callable[[], T], what: str, timeout: float = 60.0) -> T:
        """Poll `condition` until it is truthy; FaultNotInjected if the scenario ends or
        the timeout passes first."""
        try:
            value = wait_for(
                lambda: _STOPPED if self.stop.is_set() else condition(),
                timeout=timeout,
                interval=0.05,
                what=what,
            )
        except AssertionError as exc:
            raise FaultNotInjected(str(exc)) from exc
        if value is _STOPPED:
            raise FaultNotInjected(f"the scenario ended before {what}")
        return value

    def pause(self, seconds: float) -> None:
        """Space two faults apart (a fixed pause; ends early when the scenario does)."""
        self.stop.wait(seconds)

    def inject(self, faults: tuple[Callable[["Run"], None], ...]) -> None:
        try:
            for fault in faults:
                fault(self)
        except FaultNotInjected as exc:
            self.problems.append(f"fault not injected: {exc}")
            self.note(f"fault not injected: {exc}")
        except Exception as exc:
            self.problems.append(f"fault injector crashed: {exc!r}")
            traceback.print_exc()
        finally:
            product.close()


def count(accepted, managers: list[int], started: float) -> dict:
    """Lost managers, duplicates and the moment the last manager's first email arrived."""
    per_manager: Counter = Counter()
    first: dict[str, float] = {}
    for request in accepted:
        manager = str((request.json.get("Metadata") or {}).get("manager_id", ""))
        per_manager[manager] += 1
        first[manager] = min(first.get(manager, request.at), request.at)
    known = {str(manager) for manager in managers}
    lost = [manager for manager in managers if per_manager[str(manager)] == 0]
    return {
        "received": len(accepted),
        "lost": len(lost),
        "lost_ids": lost,
        "duplicates": sum(max(0, per_manager[m] - 1) for m in known),
        "strangers": sum(n for m, n in per_manager.items() if m not in known),
        "seconds": None if lost else round(max(first.values(), default=started) - started, 1),
    }


def failover_numbers(run: Run, accepted) -> dict:
    """Seconds from the master's kill to the first email accepted once Sentinel had
    promoted the replica, and to the last email; and what the reconcilers queued again
    (among it, what the old master had taken but never replicated)."""
    killed, promoted = run.failover.get("killed_at"), run.failover.get("promoted_at")
    if killed is None or promoted is None:
        return {}
    after = sorted(request.at for request in accepted if request.at >= promoted)
    return {
        "promoted_s": round(promoted - killed, 1),
        "first_email_s": round(after[0] - killed, 1) if after else None,
        "last_email_s": round(after[-1] - killed, 1) if after else None,
        "accepted_before_kill": run.failover["accepted_at_kill"],
        **product.requeued_by_reconcilers(),
    }


def _failover_note(numbers: dict) -> str:
    if not numbers:
        return "the master was never killed"
    return (
        f"failover: replica promoted {numbers['promoted_s']}s after the kill; first email "
        f"after it at {numbers['first_email_s']}s, last at {numbers['last_email_s']}s; "
        f"the reconcilers queued again {numbers['report_requests']} report request(s) "
        f"and {numbers['deliveries']} email(s)"
    )


def missing(stack: Stack, managers: list[int]) -> list[int]:
    arrived = {
        str((request.json.get("Metadata") or {}).get("manager_id", ""))
        for request in stack.provider.accepted
    }
    return [manager for manager in managers if str(manager) not in arrived]


def webhooks_pending(stack: Stack) -> int:
    if not stack.provider.tracking_url:
        return 0
    return len(stack.provider.accepted) - len(stack.provider.webhooks)


def settled(stack: Stack) -> bool:
    return webhooks_pending(stack) == 0 and product.owed_deliveries() == 0


def run_scenario(
    stack: Stack, scenario: "Scenario", managers_count: int, *, deadline: float, settle: float
) -> dict:
    tracking = "on" if scenario.tracking else "off"
    print(f"\n== {scenario.name}: {managers_count} managers, tracking {tracking}", flush=True)
    print(f"   {scenario.summary}", flush=True)
    logs = stack.root / "logs" / scenario.name
    logs.mkdir(parents=True)
    with contextlib.ExitStack() as broker:
        cluster = None
        if scenario.sentinel:
            # A fresh master, replica and three Sentinels for this scenario alone.
            cluster = broker.enter_context(sentinel_cluster(logs / "sentinel"))
            stack.use_broker(cluster.env(), cluster.transport_options)
            broker.callback(stack.use_broker, None)
        else:
            stack.redis.flush()  # an empty Redis
        return _run(stack, scenario, managers_count, logs, cluster, deadline, settle)


def _run(
    stack: Stack,
    scenario: "Scenario",
    managers_count: int,
    logs: Path,
    cluster: SentinelCluster | None,
    deadline: float,
    settle: float,
) -> dict:
    # Fresh state: a copy of the seeded database, a forgetful provider.
    template = stack.template_for(managers_count)
    product.close()
    stack.postgres.copy(template, RUN_DB)
    stack.provider.reset()
    stack.provider.tracking_delay = WEBHOOK_DELAY
    stack.provider.latency = scenario.provider_latency
    notes = []
    reconcilers = product.speed_up_reconcilers()
    absent = sorted(set(product.RECONCILE_TASKS) - set(reconcilers))
    if absent:
        notes.append(f"no beat entry for {', '.join(absent)}: not sped up")
        print(f"   WARNING: {notes[-1]}", flush=True)
    managers = product.manager_ids()
    stack.start_product(logs, tracking=scenario.tracking)
    try:
        stack.wait_ready()
        run = Run(scenario.name, stack, managers, cluster=cluster)
        if cluster is None:
            period = product.queue_fan_out()
        else:
            period = product.fan_out_period()
            stack.call_task(product.FAN_OUT_TASK, [period], f"{scenario.name}-fan-out.log")
        run.note(f"fan-out queued for {period}")
        injector = threading.Thread(
            target=run.inject, args=(scenario.faults,), name="faults", daemon=True
        )
        injector.start()

        def all_arrived() -> bool:
            return not injector.is_alive() and not missing(stack, managers)

        try:
            wait_for(all_arrived, timeout=deadline, interval=0.2, what="every manager's email")
            run.note("every manager's email arrived")
        except AssertionError:
            run.note(f"deadline: {len(missing(stack, managers))} manager(s) still without email")
        # Late duplicates: let whatever is still owed finish, and the provider post its
        # webhooks, before counting (or give up after the settle period).
        try:
            wait_for(lambda: settled(stack), timeout=settle, interval=0.5)
        except AssertionError:
            notes.append(
                f"after the {settle:.0f}s settle period: {product.owed_deliveries()} "
                f"deliveries still owed, {webhooks_pending(stack)} webhooks not yet posted"
            )
        run.stop.set()
        injector.join(timeout=60)
        result = count(stack.provider.accepted, managers, run.started)
        if cluster is not None:
            result["failover"] = failover_numbers(run, stack.provider.accepted)
            notes.append(_failover_note(result["failover"]))
        statuses = dict(product.delivery_statuses())
        lost_where = dict(product.where_stuck(result.pop("lost_ids"), period))
        webhooks = stack.provider.webhooks
        failed_webhooks = [post for post in webhooks if not post.delivered]
        if failed_webhooks:
            notes.append(
                f"{len(failed_webhooks)} of {len(webhooks)} delivery webhooks never accepted "
                f"(last answer: {failed_webhooks[-1].last_answer})"
            )
        for name, process in stack.processes.items():
            if not process.alive():
                notes.append(f"{name} exited by itself (code {process.process.returncode})")
        if result["strangers"]:
            notes.append(f"{result['strangers']} accepted email(s) without a known manager_id")
    finally:
        stack.stop_product()

    row = {
        "fault": scenario.name,
        "managers": len(managers),
        **result,
        "tracking": scenario.tracking,
        "duplicates_allowed": not scenario.tracking,
        "injected": run.injected,
        "problems": run.problems,
        "lost_where": lost_where,
        "delivery_statuses": statuses,
        "notes": notes,
    }
    row["ok"] = (
        row["lost"] == 0
        and (row["duplicates"] == 0 or row["duplicates_allowed"])
        and not row["problems"]
    )
    summary = (
        f"received {row['received']}, lost {row['lost']}, duplicates {row['duplicates']}, "
        f"all arrived after {row['seconds']}s"
        if row["seconds"] is not None
        else f"received {row['received']}, lost {row['lost']}, duplicates {row['duplicates']}"
    )
    print(f"   {'OK' if row['ok'] else 'FAILED'}: {summary}", flush=True)
    for line in [*row["problems"], *notes[1 if absent else 0 :]]:
        print(f"   - {line}", flush=True)
    if lost_where:
        print(f"   - where the lost ones are: {lost_where}", flush=True)
    kept = keep_logs(logs, scenario.name)
    if not row["ok"]:
        print(stack.log_tails(20), flush=True)
        print(f"   whole logs in {kept.relative_to(REPO_DIR)}", flush=True)
    return row


def keep_logs(logs: Path, name: str) -> Path:
    """Copy the scenario's logs out of the temporary directory, for a look afterwards."""
    target = LOGS_DIR / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(logs, target)
    return target
