"""The image, built without Docker inside the harness's mount namespace.

Its root file system is an overlay: this machine's root below (standing in for
python:3.11-slim-bookworm: same Debian, a Python 3.11 in the virtualenv), every change
above, in a scratch directory. On that root the runtime stage of ops/docker/Dockerfile
runs as written: its RUN lines (the user `app`, the catalogs, collectstatic), its
`COPY . /app` (the context without .dockerignore's paths), WORKDIR, USER, ENV. So /app
exists in the namespace only, owned as the image has it.
"""

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.compose_run.dockerfile import Image, copy_context, runtime_stage
from tests.support.processes import REPO_DIR

# The base image has users of its own only below 1000; the machine's (uid 1000 here)
# would take the uid the Dockerfile gives `app`.
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow")
FIRST_REGULAR_ID = 1000
NOBODY_ID = 65534
LAUNCH = [sys.executable, "-m", "tests.compose_run.launch"]


@dataclass
class Built:
    spec: Image
    root: Path  # the merged overlay: the lower layer of every container
    # Whether `root` holds the image's own files, which a new volume starts with.
    seeds_volumes: bool = True

    def path(self, inside: str) -> Path:
        """Where a path of the image lies on this machine."""
        return self.root / inside.lstrip("/")


def run(*argv: str) -> None:
    subprocess.run(argv, check=True)


def drop_regular_accounts(root: Path) -> None:
    ids = {}
    for name in ACCOUNT_FILES:
        path = root / "etc" / name
        if not path.exists():
            continue
        kept = []
        for line in path.read_text().splitlines():
            fields = line.split(":")
            if name in {"passwd", "group"} and len(fields) > 2 and fields[2].isdigit():
                ids[(name, fields[0])] = int(fields[2])
            owner = "passwd" if name in {"passwd", "shadow"} else "group"
            number = ids.get((owner, fields[0]), 0)
            if not FIRST_REGULAR_ID <= number < NOBODY_ID:
                kept.append(line)
        path.write_text("\n".join(kept) + "\n")


def interpreters_reachable(root: Path, from_stages: list[tuple[Path, str]]) -> None:
    """The base image's Python is world-readable under /usr/local; the virtualenv's here
    may live in a private home (pyenv's under /root). Its directories become searchable
    in the image, and only there, so that the image's user can run it."""
    for host, _inside in from_stages:
        for python in (host / "bin").glob("python*"):
            for directory in Path(os.path.realpath(python)).parents:
                layered = root / str(directory).lstrip("/")
                mode = layered.stat().st_mode
                if not mode & stat.S_IXOTH:
                    layered.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def account(root: Path, user: str) -> tuple[int, int, str]:
    """uid, gid and home of USER (a name or uid[:gid]) in the image's /etc/passwd."""
    name, _, group = user.partition(":")
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if name in (fields[0], fields[2]):
            return int(fields[2]), int(group or fields[3]), fields[5]
    if name.isdigit():
        return int(name), int(group or name), "/"
    raise RuntimeError(f"USER {user!r}: no such user in the image")


def build(scratch: Path, log: Path, build_args: dict[str, str] | None = None) -> Built:
    spec = runtime_stage(build_args)
    upper, work, root = (scratch / "image" / name for name in ("upper", "work", "root"))
    for directory in (upper, work, root):
        directory.mkdir(parents=True)
    layers = f"lowerdir=/,upperdir={upper},workdir={work}"
    run("mount", "-t", "overlay", "overlay", "-o", layers, str(root))
    drop_regular_accounts(root)
    interpreters_reachable(root, spec.from_stages)
    mounts = spec.stage_mounts()
    with log.open("w") as output:
        for number, step in enumerate(spec.steps):
            print(f"--- {step.keyword} {step.argument}", file=output, flush=True)
            if step.keyword == "COPY":
                files = copy_context(root / step.argument.lstrip("/"), REPO_DIR)
                print(f"{files} files", file=output, flush=True)
            elif step.keyword == "WORKDIR":
                (root / step.argument.lstrip("/")).mkdir(parents=True, exist_ok=True)
            else:  # RUN as Docker runs it: shell form with /bin/sh -c, as the USER so far
                uid, gid, home = account(root, step.user)
                exec_form = step.argument.startswith("[")
                argv = json.loads(step.argument) if exec_form else ["/bin/sh", "-c", step.argument]
                launch = {
                    "root": str(root),
                    "mounts": mounts,
                    "uid": uid,
                    "gid": gid,
                    "workdir": step.workdir,
                    "argv": argv,
                    "env": {"HOME": home, **step.env},
                }
                spec_path = scratch / "image" / f"run-{number}.json"
                spec_path.write_text(json.dumps(launch))
                done = subprocess.run(
                    ["unshare", "--mount", "--uts", "--", *LAUNCH, str(spec_path)],
                    cwd=REPO_DIR,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=300,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"image build: RUN {step.argument} failed, see {log}")
    account(root, spec.user)  # the image's USER exists
    return Built(spec, root)
