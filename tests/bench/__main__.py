"""`python -m tests.bench` (`make bench`): every row, then the table and var/bench/last.json.

  --managers 1000          reports in the pipeline rows (and chains in the baseline's):
                           at an instant stand-in, at --provider-latency, and with the
                           workers started by hand (`celery -A core worker -Q reports`,
                           and `-Q email --pool threads --concurrency 16`)
  --provider-latency 0.2   seconds the stand-in Postmark takes to answer in the latency,
                           rate-limit and sizing rows (a real API: 0.1-0.3 s)
  --rate-limit 20          the rate-limit row: EMAIL_RATE_LIMIT for every product process,
                           and the stand-in's limit (a 429 with Retry-After above it)
  --rate-limit-emails 400  reports in the rate-limit row (two email workers); 0 skips it
  --sizing 10000           comma list: the pipeline at --provider-latency over that many
                           managers: wall time, reports/s, workers' RSS (a tenth, the end,
                           peak), peak database connections; 0 skips (--memory-reports is
                           the same option, its old name)
  --webhook-events 4000    Delivery events posted to the tracking webhook (gunicorn, as in
                           production) by 32 clients at once, with the product's default
                           and with DATABASE_CONN_MAX_AGE=0; 0 skips both
  --fsync off              PostgreSQL's durability: off (as `make faults`, and as every
                           earlier measurement) or on (fsync, full_page_writes,
                           synchronous_commit, as production)
  --email-concurrency N    the email workers' CELERY_WORKER_CONCURRENCY (default: their
                           start script's, 16 threads)
  --reps 5,50,500 --deals 10,1000,10000
                           team sizes for the one-report rows (every pair)
  --fanout 10000,100000    managers in the fan-out rows
  --keep                   keep the temporary directory (logs and data)

Every process's log is copied to var/bench/logs/. Nothing here asserts a time: the run
fails (exit 1) only when the product lost or duplicated an email, or a webhook post was
not answered 2xx; it breaks (exit 2) when something did not finish at all.
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

from tests.bench import pipeline, reports, webhooks
from tests.bench.pipeline import Setup
from tests.faults import product
from tests.faults.stack import BASE_DB, RUN_DB, Stack
from tests.support.harness import run_in_scratch
from tests.support.processes import REPO_DIR
from tests.support.tables import markdown_table, write_json

OUT_DIR = REPO_DIR / "var" / "bench"
REPS_PER_TEAM = 2
DEALS_PER_TEAM = 2
# Rows whose every email must have arrived exactly once.
EMAIL_ROWS = ("pipeline", "pipeline_latency", "by_hand", "rate_limit")
ONE_MACHINE = "one machine runs workers, Redis, PostgreSQL, the stand-in and the harness"


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def sizes(text: str) -> list[int]:
    """Like `numbers`, without zeros: `--sizing 0` skips the rows."""
    return [size for size in numbers(text) if size]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--managers", type=int, default=1000)
    parser.add_argument("--provider-latency", type=float, default=0.2)
    parser.add_argument("--rate-limit", type=int, default=20)
    parser.add_argument("--rate-limit-emails", type=int, default=400)
    parser.add_argument("--sizing", "--memory-reports", type=sizes, default=[10000])
    parser.add_argument("--webhook-events", type=int, default=4000)
    parser.add_argument("--fsync", choices=("on", "off"), default="off")
    parser.add_argument("--email-concurrency", type=int, default=0)
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
    # About a minute for 100,000 managers with two reps and two deals each; room to spare.
    timeout = 600 + managers * (1 + reps + deals) / 500
    return stack.template(f"bench_{managers}_{reps}_{deals}", seed, timeout=timeout)


def run(stack: Stack, args: argparse.Namespace, logs: Path, results: dict) -> None:
    """Fill `results` row by row, so that an interrupted run still writes what it has."""
    note = lambda message: print(f"  [{pipeline.load()}] {message}", flush=True)  # noqa: E731
    results["postgres"] = {"fsync": args.fsync}

    note(f"bare Celery chain x {args.managers}")
    results["bare"] = pipeline.run_bare(stack, args.managers, logs / "bare")
    results["bare"]["load"] = pipeline.load()

    template = team_template(stack, args.managers, REPS_PER_TEAM, DEALS_PER_TEAM)
    latency = args.provider_latency
    for key, setup, what in (
        ("pipeline", Setup(), "instant stand-in"),
        ("pipeline_latency", Setup(latency=latency), f"stand-in at {latency} s"),
        ("by_hand", Setup(by_hand=True), "workers started by hand"),
    ):
        note(f"pipeline x {args.managers}, {what}")
        results[key] = pipeline.run_product(stack, template, args.managers, logs / key, setup)
        results[key]["load"] = pipeline.load()
        if key != "by_hand":
            results[key]["ratio_to_bare"] = ratio(results[key], results["bare"])
    results["ratio"] = results["pipeline"]["ratio_to_bare"]  # the figure docs/ quote
    results["by_hand"]["ratio_to_pipeline"] = ratio(results["by_hand"], results["pipeline"])

    if args.rate_limit_emails:
        emails, limit = args.rate_limit_emails, args.rate_limit
        note(f"pipeline x {emails}, EMAIL_RATE_LIMIT={limit}, two email workers")
        template = team_template(stack, emails, REPS_PER_TEAM, DEALS_PER_TEAM)
        setup = Setup(latency=latency, rate_limit=limit, email_replicas=2)
        results["rate_limit"] = pipeline.run_product(
            stack, template, emails, logs / "rate-limit", setup
        )
        results["rate_limit"]["load"] = pipeline.load()

    results["sizing"] = []
    for size in args.sizing:
        note(f"pipeline x {size}, stand-in at {latency} s: memory and connections")
        template = team_template(stack, size, REPS_PER_TEAM, DEALS_PER_TEAM)
        setup = Setup(latency=latency, watch=True, memory_at=(max(1, size // 10), size))
        row = pipeline.run_product(stack, template, size, logs / f"sizing-{size}", setup)
        results["sizing"].append({**row, "load": pipeline.load()})

    if args.webhook_events:
        note(f"tracking webhook x {args.webhook_events}, gunicorn as in production")
        results["webhooks"] = webhooks.run(stack, args.webhook_events, logs / "webhooks")
        results["webhooks"]["load"] = pipeline.load()
        note(f"tracking webhook x {args.webhook_events}, DATABASE_CONN_MAX_AGE=0 (before)")
        results["webhooks_closing"] = webhooks.run(
            stack, args.webhook_events, logs / "webhooks-closing", {"DATABASE_CONN_MAX_AGE": "0"}
        )
        results["webhooks_closing"]["load"] = pipeline.load()

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


def ratio(row: dict, base: dict) -> float:
    return round(row["per_s"] / base["per_s"], 3)


def emails(row: dict) -> str:
    return (
        f"{row['reports']} reports, {row['duplicates']} duplicates, "
        f"{row['distinct_managers']} managers"
    )


def workers(row: dict) -> str:
    """'reports 2 prefork, email 16 thread', from the workers' banners."""
    return ", ".join(
        f"{name.removeprefix('worker-')} {setting}" for name, setting in row["workers"].items()
    )


def rows(results: dict) -> list[list[str]]:
    """The table, from whatever rows the run got to."""
    table = []
    if "postgres" in results:
        durable = results["postgres"]["fsync"] == "on"
        table.append(
            [
                "PostgreSQL durability",
                f"fsync {results['postgres']['fsync']}",
                "fsync, full_page_writes, synchronous_commit on, as in production"
                if durable
                else "fsync and full_page_writes off (--fsync off): commits cheaper than "
                "in production",
            ]
        )
    if bare := results.get("bare"):
        table.append(
            [
                "bare Celery chain a -> b (chains/s)",
                f"{bare['per_s']}",
                f"{bare['chains']} chains; {bare['cpu_ms_each']} ms CPU each; no Django, "
                "no result backend, -c 2",
            ]
        )
    if line := results.get("pipeline"):
        table.append(
            [
                "pipeline: fan-out -> report -> email -> provider (reports/s)",
                f"{line['per_s']}",
                f"ratio to bare {line['ratio_to_bare']}; {emails(line)}; "
                f"{line['cpu_ms_each']} ms CPU, {line['commits_per_report']} commits each; "
                f"workers {workers(line)}; stand-in answers at once, on loopback; {ONE_MACHINE}",
            ]
        )
    if slow := results.get("pipeline_latency"):
        table.append(
            [
                f"pipeline, stand-in answering in {slow['latency_s']} s (reports/s)",
                f"{slow['per_s']}",
                f"ratio to bare {slow['ratio_to_bare']}; {emails(slow)}; "
                f"{slow['cpu_ms_each']} ms CPU each; workers {workers(slow)}; a fixed "
                "latency on loopback, no network in between; one machine",
            ]
        )
    if hand := results.get("by_hand"):
        base = results["pipeline"]
        table.append(
            [
                "pipeline, workers started by hand (reports/s)",
                f"{hand['per_s']}",
                f"ratio to the start-script row {hand.get('ratio_to_pipeline')}; {emails(hand)}; "
                f"{hand['commits_per_report']} commits each (start script "
                f"{base['commits_per_report']}); from backend/, no start-script settings: "
                "`celery -A core worker -Q reports`, `... -Q email --pool threads "
                f"--concurrency 16`: {workers(hand)}; instant stand-in",
            ]
        )
    if rated := results.get("rate_limit"):
        table.append(
            [
                f"pipeline, EMAIL_RATE_LIMIT={rated['rate_limit']}, two email workers (emails/s)",
                f"{rated['per_s']}",
                f"busiest second at the stand-in {rated['busiest_second']} requests "
                f"(limit {rated['rate_limit']}); {rated['too_many']} answered 429 of "
                f"{rated['requests']}; {emails(rated)}; workers {workers(rated)}; stand-in "
                f"at {rated['latency_s']} s; both email workers on one machine, each in "
                "its own UTS namespace (its own host name, as a replica's container)",
            ]
        )
    for size in results.get("sizing", []):
        table.append(sizing_row(size))
    for key, label in (
        ("webhooks", "tracking webhook, gunicorn as in production, no env file"),
        ("webhooks_closing", "the same with DATABASE_CONN_MAX_AGE=0 (the default before)"),
    ):
        if hook := results.get(key):
            table.append(webhook_row(label, hook, results.get("webhooks")))
    for size in results.get("reports", []):
        table.append(
            [
                f"one report, {size['reps']} reps, {size['deals']} deals (ms)",
                f"{size['total_ms']}",
                f"build {size['build_ms']}, render {size['render_ms']}; {size['queries']} queries",
            ]
        )
    for fan in results.get("fanout", []):
        table.append(
            [
                f"fan-out, {fan['managers']} managers (enqueues/s)",
                f"{fan['per_s']}",
                f"peak RSS {fan['peak_rss_mb']} MB (at start {fan['rss_before_mb']})",
            ]
        )
    return table


def webhook_row(label: str, hook: dict, default: dict | None) -> list[str]:
    ratio = ""
    if default and hook is not default:
        ratio = f"the default row is {default['per_s'] / hook['per_s']:.2f}x this; "
    return [
        f"{label} (requests/s)",
        f"{hook['per_s']}",
        f"{ratio}p50 {hook['p50_ms']} ms, p99 {hook['p99_ms']} ms; {hook['events']} Delivery "
        f"events, {hook['concurrency']} clients; {hook['not_2xx']} not 2xx, "
        f"{hook['delivered']} delivered; {hook['gunicorn_workers']} gunicorn workers, "
        f"{hook['gunicorn_restarts']} restarts; plain HTTP on loopback "
        "(X-Forwarded-Proto: https, no proxy), the clients on the same cores",
    ]


def sizing_row(size: dict) -> list[str]:
    marks = list(size["worker_rss_mb"])
    first, last = (size["worker_rss_mb"][mark] for mark in (marks[0], marks[-1]))
    sampled = size["sampled"]
    rss = "; ".join(
        f"{name.removeprefix('worker-')} {first[name]:.0f} / {last[name]:.0f} / "
        f"{max(sampled['rss_peak_mb'].get(name, 0.0), first[name], last[name]):.0f}"
        for name in last
    )
    by_process = ", ".join(
        f"{name} {count}" for name, count in sorted(sampled["connections_peak_by_process"].items())
    )
    return [
        f"pipeline x {size['reports']} managers, stand-in at {size['latency_s']} s (reports/s)",
        f"{size['per_s']}",
        f"{size['seconds']:.0f} s from the fan-out to the last email; {emails(size)}; "
        f"RSS MB after {marks[0]} / {marks[-1]} / peak: {rss}; database connections at "
        f"most {sampled['connections_peak']} ({by_process}); workers {workers(size)}; "
        "stand-in on loopback, one machine",
    ]


def faults(results: dict) -> list[str]:
    """Rows where the product lost or duplicated an email, or refused a webhook post."""
    found = []
    product_rows = [(key, results.get(key)) for key in EMAIL_ROWS]
    product_rows += [(f"sizing {row['reports']}", row) for row in results.get("sizing", [])]
    for name, row in product_rows:
        if row and (row["duplicates"] or row["distinct_managers"] < row["reports"]):
            found.append(name)
    for key in ("webhooks", "webhooks_closing"):
        hook = results.get(key)
        if hook and (hook["not_2xx"] or hook["delivered"] < hook["events"]):
            found.append(key)
    return found


def main() -> int:
    args = arguments()
    started_at = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    logs = OUT_DIR / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    results: dict = {}

    def run_all(root: Path) -> None:
        durable = args.fsync == "on"
        with Stack(root, keep_alive=True, shortened=False, durable=durable) as stack:
            if args.email_concurrency:
                stack.email_env = {"CELERY_WORKER_CONCURRENCY": str(args.email_concurrency)}
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
    if results:
        print()
        print(markdown_table(["measure", "value", "detail"], rows(results)))
    print(
        f"\nTotal {duration:.0f}s, load {pipeline.load()}. Written to {path.relative_to(REPO_DIR)}"
    )
    if error:
        print(f"The run broke: {error}", file=sys.stderr)
        return 2
    faulty = faults(results)
    if faulty:
        print(
            f"Lost or duplicated emails, or refused posts, in: {', '.join(faulty)}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
