"""`python -m tests.compose_run` (`make services`): every compose service that runs our
image, started natively with exactly what compose gives it, until its own health check
passes; then what production must refuse. No container engine: Linux namespaces.

Needs root (namespaces, mounts, the image's user). It re-runs itself in new network,
mount, UTS and PID namespaces: only loopback, which nothing else on this machine shares;
/app, the image's user and the compose host names exist in there only; every process
it starts ends with it.

  --only dev,prod,refusals   some of the three runs (COMPOSE_RUN_ONLY)
  --checkout-owner UID       owner of the copy the development containers mount at /app
                             (default 0: a checkout the image's uid 1000 does not own)
  --no-planted-env           no .env and var/run.env in that copy
  --keep                     keep the scratch directory (COMPOSE_RUN_KEEP=1)

Logs: var/compose-run/logs/<run>/<service>.log; the tables, as JSON, in
var/compose-run/last.json. Exits 1 when a service fails or a refusal is missing, 2 when
the harness itself broke.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from tests.compose_run import image as image_module
from tests.compose_run import refusals
from tests.compose_run.checkout import checkout_copy
from tests.compose_run.envfile import operator_filled
from tests.compose_run.placeholders import placeholder_names
from tests.compose_run.project import Project, Row
from tests.support.compose import active_entries, image_services, resolved
from tests.support.processes import REPO_DIR
from tests.support.tables import markdown_table, write_json

OUTPUT_DIR = REPO_DIR / "var" / "compose-run"
RUNS = ("dev", "prod", "refusals")
NOTE_WIDTH = 160
TOOLS = ("unshare", "nsenter", "setpriv", "mount", "ip", "git", "redis-server")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.compose_run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--only", default=os.environ.get("COMPOSE_RUN_ONLY", ",".join(RUNS)))
    parser.add_argument("--checkout-owner", type=int, default=0)
    parser.add_argument("--no-planted-env", action="store_true")
    keep = bool(os.environ.get("COMPOSE_RUN_KEEP"))
    parser.add_argument("--keep", action="store_true", default=keep)
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.only = [run.strip() for run in args.only.split(",") if run.strip()]
    unknown = set(args.only) - set(RUNS)
    if unknown:
        parser.error(f"--only: unknown run(s) {', '.join(sorted(unknown))}; pick from {RUNS}")
    return args


# OUTSIDE: CHECK, THEN RUN ALL OF IT IN NEW NAMESPACES
# ------------------------------------------------------------------------------


def outside(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("make services needs root (namespaces, mounts, the image's uid): sudo make services")
        return 2
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"missing commands: {', '.join(missing)} (ops/scripts/compose-run.sh installs them)")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="compose-run-"))
    scratch.chmod(0o755)  # the postgres and app users reach their directories through it
    command = [
        "unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
        "--kill-child", "--", sys.executable, "-m", "tests.compose_run",
        "--inside", str(scratch), *sys.argv[1:],
    ]  # fmt: skip
    # Ctrl-C and SIGTERM reach the run inside, which stops what it started and still
    # prints its tables; this process waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen(command, cwd=REPO_DIR)
    signal.signal(signal.SIGTERM, lambda *_: forward(child.pid, signal.SIGTERM))
    try:
        return child.wait()
    finally:
        if args.keep:
            print(f"Kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def forward(unshare_pid: int, signum: int) -> None:
    """To the run inside: unshare's child, PID 1 of the new PID namespace."""
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    except OSError:
        return
    for pid in children:
        os.kill(int(pid), signum)


# INSIDE: THE IMAGE, BOTH FILES, THE REFUSALS
# ------------------------------------------------------------------------------


def interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def inside(args: argparse.Namespace) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    scratch: Path = args.inside
    shutil.rmtree(OUTPUT_DIR, ignore_errors=True)
    logs = OUTPUT_DIR / "logs"
    logs.mkdir(parents=True)
    started = time.monotonic()
    projects: list[Project] = []
    refusing: list[Project] = []
    refused: list[Row] = []
    broke = ""
    try:
        example = REPO_DIR / ".env.prod.example"
        filled = scratch / "env.prod"
        variables = operator_filled(example, filled)
        if "dev" in args.only:
            print("docker-compose.yml:", flush=True)
            model = resolved("dev")
            image = build_image(model, scratch / "dev", logs / "dev")
            checkout = scratch / "dev" / "checkout"
            checkout_copy(checkout, args.checkout_owner, plant=not args.no_planted_env)
            projects.append(
                Project("dev", model, image, scratch / "dev", logs / "dev", checkout=checkout)
            )
            projects[-1].run()
        if {"prod", "refusals"} & set(args.only):
            print("docker-compose.prod.yml, with an operator's env file:", flush=True)
            model = resolved("prod", filled)
            image = build_image(model, scratch / "prod", logs / "prod")
            if "prod" in args.only:
                project = Project(
                    "prod", model, image, scratch / "prod", logs / "prod", variables=variables
                )
                projects.append(project)
                project.run()
            if "refusals" in args.only:
                print("docker-compose.prod.yml, with .env.prod.example as it is:", flush=True)
                example_model = resolved("prod", example)
                placeholders = placeholder_names(example)
                refusing.append(
                    Project(
                        "prod up, example env",
                        example_model,
                        image,
                        scratch / "example-up",
                        logs / "prod-example-up",
                        variables=active_entries(example),
                        placeholders=placeholders,
                    )
                )
                refusing[-1].run()
                refused += refusals.each_container(
                    "prod, each container alone, example env",
                    example_model,
                    image,
                    placeholders,
                    scratch / "example-alone",
                    logs / "prod-example-alone",
                )
                refused += refusals.missing_variables(filled, scratch)
    except KeyboardInterrupt:
        broke = "interrupted"
    except Exception as error:
        traceback.print_exc()
        broke = f"{type(error).__name__}: {error}"
    services = [row for project in projects for row in project.results()]
    refused = [row for project in refusing for row in project.results()] + refused
    report(services, refused, time.monotonic() - started, broke)
    if broke:
        return 2
    return 0 if all(row.passed for row in services + refused) else 1


def build_image(model: dict, scratch: Path, logs: Path) -> image_module.Built:
    """The image the file's services share, built with their build args."""
    builds = {json.dumps(s["build"], sort_keys=True) for s in image_services(model).values()}
    if len(builds) != 1:
        raise RuntimeError(f"the harness builds one image per compose file, not {len(builds)}")
    build_args = json.loads(builds.pop()).get("args") or {}
    print(f"  building the image's runtime stage with {build_args} ...", flush=True)
    logs.mkdir(parents=True, exist_ok=True)
    return image_module.build(scratch, logs / "image-build.log", build_args)


def report(services: list[Row], refused: list[Row], elapsed: float, broke: str) -> None:
    def mark(value: bool) -> str:
        return "yes" if value else "NO"

    def secs(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}"

    def short(note: str) -> str:  # the whole of it is in last.json and the logs
        return note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 3] + "..."

    if services:
        header = ["file", "service", "started", "healthy", "seconds", "note"]
        rows = [
            [r.run, r.service, mark(r.started), mark(r.passed), secs(r.seconds), short(r.note)]
            for r in services
        ]
        print()
        print(markdown_table(header, rows, text_columns=(0, 1, 5)))
    if refused:
        print()
        print(
            markdown_table(
                ["run", "service", "passed", "what it did"],
                [[r.run, r.service, mark(r.passed), short(r.note)] for r in refused],
                text_columns=(0, 1, 3),
            )
        )
    failed = [r for r in services + refused if not r.passed]
    print(f"\n{len(failed)} failed of {len(services) + len(refused)}; {elapsed:.0f} s in all.")
    if broke:
        print(f"The harness stopped: {broke}")
    print(f"Logs: {OUTPUT_DIR / 'logs'}")
    payload = {
        "services": [asdict(r) for r in services],
        "refusals": [asdict(r) for r in refused],
        "seconds": elapsed,
        "broke": broke,
    }
    write_json(payload, OUTPUT_DIR / "last.json")


def main() -> int:
    args = arguments()
    return inside(args) if args.inside else outside(args)


if __name__ == "__main__":
    sys.exit(main())
