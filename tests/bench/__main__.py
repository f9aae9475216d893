"""`python -m tests.bench` (`make bench`): every row, then the table and var/bench/last.json.

  --managers 1000          reports in the throughput row (and chains in the baseline's)
  --memory-reports 10000   reports in the memory row (workers' RSS at a tenth and at all
                           of them); 0 skips it
  --reps 5,50,500 --deals 10,1000,10000
                           team sizes for the one-report rows (every pair)
  --fanout 10000,100000    managers in the fan-out rows
  --keep                   keep the temporary directory (logs and data)

Every process's log is copied to var/bench/logs/. Nothing here asserts a time: the run
fails (exit 1) only when the product lost or duplicated an email, or broke.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from tests.bench import pipeline, reports
from tests.faults import product
from tests.faults.stack import BASE_DB, RUN_DB, Stack
from tests.support.harness import run_in_scratch
from tests.support.processes import REPO_DIR
from tests.support.tables import markdown_table, write_json

OUT_DIR = REPO_DIR / "var" / "bench"
REPS_PER_TEAM = 2
DEALS_PER_TEAM = 2


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--managers", type=int, default=1000)
    parser.add_argument("--memory-reports", type=int, default=10000)
    parser.add_argument("--reps", type=numbers, default=[5, 50, 500])
    parser.add_argument("--deals", type=numbers, default=[10, 1000, 10000])
    parser.add_argument("--fanout", type=numbers, default=[10000, 100000])
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(memory_kb / 1024**2, 1)}


def team_template(stack: Stack, managers: int, reps: int, deals: int) -> str:
    seed = ["-m", "tests.bench.seed", str(managers), str(reps), str(deals)]
    return stack.template(f"bench_{managers}_{reps}_{deals}", seed)


def run(stack: Stack, args: argparse.Namespace, logs: Path, results: dict) -> None:
    """Fill `results` row by row, so that an interrupted run still writes what it has."""
    note = lambda message: print(f"  [{pipeline.load()}] {message}", flush=True)  # noqa: E731

    note(f"bare Celery chain x {args.managers}")
    results["bare"] = pipeline.run_bare(stack, args.managers, logs / "bare")
    results["bare"]["load"] = pipeline.load()

    note(f"pipeline x {args.managers}")
    template = team_template(stack, args.managers, REPS_PER_TEAM, DEALS_PER_TEAM)
    results["pipeline"] = pipeline.run_product(stack, template, args.managers, logs / "pipeline")
    results["pipeline"]["load"] = pipeline.load()
    results["ratio"] = round(results["pipeline"]["per_s"] / results["bare"]["per_s"], 3)

    if args.memory_reports:
        note(f"pipeline x {args.memory_reports}, workers' memory")
        template = team_template(stack, args.memory_reports, REPS_PER_TEAM, DEALS_PER_TEAM)
        marks = (args.memory_reports // 10, args.memory_reports)
        results["memory"] = pipeline.run_product(
            stack, template, args.memory_reports, logs / "memory", memory_at=marks
        )
        results["memory"]["load"] = pipeline.load()

    note(f"one report at {args.reps} reps x {args.deals} deals")
    product.close()
    stack.postgres.copy(BASE_DB, RUN_DB)
    results["reports"] = [
        reports.measure(reps, deals) for reps in args.reps for deals in args.deals
    ]

    results["fanout"] = []
    for managers in args.fanout:
        note(f"fan-out of {managers} managers")
        template = team_template(stack, managers, 0, 0)
        product.close()
        stack.postgres.copy(template, RUN_DB)
        stack.redis.flush()
        out = stack.root / f"fanout-{managers}.json"
        stack.python(
            ["-m", "tests.bench.fanout", str(out)], stack.product_env(), f"fanout-{managers}.log"
        )
        results["fanout"].append({"managers": managers, **json.loads(out.read_text())})
        stack.redis.flush()


def rows(results: dict) -> list[list[str]]:
    bare, line = results["bare"], results["pipeline"]
    table = [
        [
            "bare Celery chain a -> b (chains/s)",
            f"{bare['per_s']}",
            f"{bare['chains']} chains; {bare['cpu_ms_each']} ms CPU each",
        ],
        [
            "pipeline: fan-out -> report -> email -> provider (reports/s)",
            f"{line['per_s']}",
            f"ratio {results['ratio']}; {line['reports']} reports, "
            f"{line['duplicates']} duplicates, {line['distinct_managers']} managers; "
            f"{line['cpu_ms_each']} ms CPU each",
        ],
    ]
    memory = results.get("memory")
    if memory:
        first, last = (memory["worker_rss_mb"][mark] for mark in memory["worker_rss_mb"])
        marks = list(memory["worker_rss_mb"])
        table.append(
            [
                f"workers' RSS after {marks[0]} / {marks[1]} reports (MB)",
                f"{sum(first.values()):.0f} / {sum(last.values()):.0f}",
                f"reports {first['worker-reports']:.0f} / {last['worker-reports']:.0f}, "
                f"email {first['worker-email']:.0f} / {last['worker-email']:.0f}; "
                f"{memory['per_s']} reports/s",
            ]
        )
    for size in results["reports"]:
        table.append(
            [
                f"one report, {size['reps']} reps, {size['deals']} deals (ms)",
                f"{size['total_ms']}",
                f"build {size['build_ms']}, render {size['render_ms']}; {size['queries']} queries",
            ]
        )
    for fan in results["fanout"]:
        table.append(
            [
                f"fan-out, {fan['managers']} managers (enqueues/s)",
                f"{fan['per_s']}",
                f"peak RSS {fan['peak_rss_mb']} MB (at start {fan['rss_before_mb']})",
            ]
        )
    return table


def main() -> int:
    args = arguments()
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    logs = OUT_DIR / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    results: dict = {}

    def run_all(root: Path) -> None:
        with Stack(root, keep_alive=True, shortened=False) as stack:
            print(f"Stack in {root}; migrating...", flush=True)
            stack.migrate()
            product.setup(stack.product_env())
            run(stack, args, logs, results)

    error = run_in_scratch(run_all, prefix="bench-", keep=args.keep)

    duration = time.monotonic() - started
    payload = {
        "started_at": started_at.isoformat(),
        "duration_s": round(duration, 1),
        "machine": machine(),
        "load_at_end": pipeline.load(),
        "error": error,
        "arguments": vars(args),
        "results": results,
    }
    path = write_json(payload, OUT_DIR / "last.json")
    if results.get("fanout") is not None:
        print()
        print(markdown_table(["measure", "value", "detail"], rows(results)))
    print(
        f"\nTotal {duration:.0f}s, load {pipeline.load()}. Written to {path.relative_to(REPO_DIR)}"
    )
    if error:
        print(f"The run broke: {error}", file=sys.stderr)
        return 2
    faulty = [
        name
        for name in ("pipeline", "memory")
        if name in results
        and (
            results[name]["duplicates"]
            or results[name]["distinct_managers"] < results[name]["reports"]
        )
    ]
    if faulty:
        print(f"Lost or duplicated emails in: {', '.join(faulty)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
