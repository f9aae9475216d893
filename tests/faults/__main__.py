"""`python -m tests.faults` (`make faults`): every scenario, then the table.

Settings, from the environment or the command line:
  FAULTS_ONLY=name[,name]   run only these scenarios (--only)
  FAULTS_MANAGERS=60        managers in the single-fault scenarios (--managers)
  FAULTS_ALL_MANAGERS=150   managers in the all-together scenario (--all-managers)
  FAULTS_DEADLINE=240       seconds a scenario may take before the missing count as lost
  FAULTS_SETTLE=20          seconds to wait for owed deliveries before counting duplicates
  FAULTS_KEEP=1             keep the temporary directory (data too) for a look afterwards

Every process's log is copied to var/faults/logs/<scenario>/; the table goes to the
terminal and, as JSON, to var/faults/last.json.

Exits 1 when a row lost a report, has a duplicate with tracking on, or a fault could
not be injected; 2 when the harness itself broke.
"""

import argparse
import datetime as dt
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from tests.faults import product, report
from tests.faults.run import LOGS_DIR, WEBHOOK_DELAY, run_scenario
from tests.faults.scenarios import SCENARIOS, select
from tests.faults.stack import SHORTENED, Stack
from tests.support.harness import run_in_scratch
from tests.support.processes import REPO_DIR


def arguments() -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only", default=env("FAULTS_ONLY", ""), help="scenario name(s), comma-separated"
    )
    parser.add_argument("--managers", type=int, default=int(env("FAULTS_MANAGERS") or 60))
    parser.add_argument("--all-managers", type=int, default=int(env("FAULTS_ALL_MANAGERS") or 150))
    parser.add_argument("--deadline", type=float, default=float(env("FAULTS_DEADLINE") or 240))
    parser.add_argument("--settle", type=float, default=float(env("FAULTS_SETTLE") or 20))
    parser.add_argument("--keep", action="store_true", default=bool(env("FAULTS_KEEP")))
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args()


def interrupt_on_signal(signum, frame):
    # SIGTERM and SIGHUP unwind like Ctrl-C: every `finally` runs, the stack stops, and
    # the rows done so far are still printed.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    args = arguments()
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:26} {scenario.summary}")
        return 0
    scenarios = select(args.only)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt_on_signal)
    if (REPO_DIR / ".env").is_file():
        print("WARNING: .env exists; the product reads variables this run does not set from it")

    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    shutil.rmtree(LOGS_DIR, ignore_errors=True)
    rows: list[dict] = []

    def run_all(root: Path) -> None:
        with Stack(root) as stack:
            print(
                f"Stack in {root}: redis-server :{stack.redis.port} (AOF), PostgreSQL "
                f"{stack.postgres.bin.parent.name} :{stack.postgres.port}, web :{stack.web_port}, "
                f"stand-in Postmark {stack.provider.url}",
                flush=True,
            )
            print("Migrating...", flush=True)
            stack.migrate()
            product.setup(stack.product_env())
            for scenario in scenarios:
                managers = args.all_managers if scenario.all_together else args.managers
                rows.append(
                    run_scenario(
                        stack, scenario, managers, deadline=args.deadline, settle=args.settle
                    )
                )

    error = run_in_scratch(run_all, prefix="faults-", keep=args.keep)

    duration = time.monotonic() - started
    print()
    print(report.table(rows))
    print(f"\nTotal {duration:.0f}s. Settings shortened for the run: {SHORTENED}")
    ok = bool(rows) and not error and all(row["ok"] for row in rows)
    path = report.write_json(
        {
            "started_at": started_at.isoformat(),
            "duration_s": round(duration, 1),
            "ok": ok,
            "error": error,
            "settings": {
                **SHORTENED,
                "CELERY_VISIBILITY_TIMEOUT": "product default",
                "webhook_delay_s": WEBHOOK_DELAY,
                "managers": args.managers,
                "all_managers": args.all_managers,
                "deadline_s": args.deadline,
                "settle_s": args.settle,
            },
            "rows": rows,
        }
    )
    print(f"Written to {path.relative_to(REPO_DIR)}")
    if error:
        print(f"The run broke: {error}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
