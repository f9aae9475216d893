"""The image as ops/docker/Dockerfile describes it, read without Docker: the runtime
stage's instructions, and the build context that `COPY . /app` takes (.dockerignore).

The harness builds the runtime stage itself (tests/compose_run/image.py). The build
stage only makes the virtualenv of requirements/$REQUIREMENTS.txt: for dev, the
checkout's .venv (ops/scripts/bootstrap.sh installs dev.txt into it); for prod, the one
ops/scripts/build-stage-venv.sh installs the same way the build stage does.
"""

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.compose import dockerfile_stages
from tests.support.processes import REPO_DIR

# What python:3.11-slim-bookworm's own Dockerfile sets (docker-library/python): Debian's
# PATH with /usr/local/bin first, and LANG. Our Dockerfile's ENV builds on these.
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# What the build stage leaves for `COPY --from=build /opt/venv`, by REQUIREMENTS.
VENVS = {"dev": REPO_DIR / ".venv", "prod": REPO_DIR / "var" / "venvs" / "prod"}
# Instructions that change nothing a container sees.
IGNORED = {"EXPOSE", "LABEL", "STOPSIGNAL"}

VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value: str, variables: dict[str, str]) -> str:
    """$NAME and ${NAME} as Docker expands them in ENV, WORKDIR, COPY and USER."""
    return VARIABLE.sub(lambda m: variables.get(m[1] or m[2], ""), value)


@dataclass
class Step:
    """One instruction of the runtime stage that acts on the file system."""

    keyword: str  # RUN, COPY, WORKDIR
    argument: str
    env: dict[str, str]  # ENV and ARG values in force
    workdir: str
    user: str


@dataclass
class Image:
    steps: list[Step] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_IMAGE_ENV))
    workdir: str = "/"
    user: str = "root"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    # (host directory, path in the image): what `COPY --from=<stage>` copied.
    from_stages: list[tuple[Path, str]] = field(default_factory=list)

    def stage_mounts(self) -> list[list]:
        """Read-only bind mounts [host, inside, True] that stand for the build stages.

        Each is mounted at its own path too: a virtualenv's scripts name their interpreter
        by its path on this machine (#!/.../.venv/bin/python), and a container's /tmp is
        its own, so a checkout under /tmp would otherwise vanish from under them.
        """
        return [
            [str(host), inside, True]
            for host, target in self.from_stages
            for inside in dict.fromkeys((target, str(host)))
        ]


def build_stage_outputs(build_args: dict[str, str]) -> dict[tuple[str, str], Path]:
    """(stage, path) -> the directory on this machine that stands for it."""
    default = next(
        line.partition("=")[2]
        for stage in dockerfile_stages()
        for line in stage
        if line.startswith("ARG REQUIREMENTS=")
    )
    venv = VENVS[build_args.get("REQUIREMENTS", default)]
    if not (venv / "bin" / "python").exists():
        raise RuntimeError(f"no virtualenv at {venv}: ops/scripts/compose-run.sh makes it")
    return {("build", "/opt/venv"): venv}


def runtime_stage(build_args: dict[str, str] | None = None) -> Image:
    """The last stage of the Dockerfile, instruction by instruction. An instruction the
    harness cannot reproduce stops it rather than being skipped."""
    *_, stage = dockerfile_stages()
    image = Image()
    args: dict[str, str] = {}
    outputs = build_stage_outputs(build_args or {})
    for line in stage[1:]:  # stage[0] is its FROM
        keyword, _, argument = line.partition(" ")
        keyword, argument = keyword.upper(), argument.strip()
        variables = {**args, **image.env}
        if keyword == "ARG":
            name, _, default = argument.partition("=")
            args[name] = (build_args or {}).get(name, default)
        elif keyword == "ENV":
            pairs = [word.partition("=") for word in shlex.split(argument)]
            image.env.update({name: expand(value, variables) for name, _, value in pairs})
        elif keyword == "WORKDIR":
            image.workdir = os.path.join(image.workdir, expand(argument, variables))
            image.steps.append(Step("WORKDIR", image.workdir, {}, image.workdir, image.user))
        elif keyword == "USER":
            image.user = expand(argument, variables)
        elif keyword == "RUN":
            image.steps.append(Step("RUN", argument, variables, image.workdir, image.user))
        elif keyword == "COPY":
            copy(image, expand(argument, variables), outputs)
        elif keyword in {"ENTRYPOINT", "CMD"}:
            setattr(image, keyword.lower(), json.loads(argument))
        elif keyword not in IGNORED:
            raise RuntimeError(f"the harness cannot build Dockerfile instruction {line!r}")
    return image


def copy(image: Image, argument: str, outputs: dict[tuple[str, str], Path]) -> None:
    words = argument.split()
    options = [word for word in words if word.startswith("--")]
    source, target = [word for word in words if not word.startswith("--")]
    target = os.path.join(image.workdir, target)
    stage = next((o.removeprefix("--from=") for o in options if o.startswith("--from=")), None)
    if stage is not None:
        host = outputs.get((stage, source))
        if host is None or source != target:
            raise RuntimeError(f"the harness has no stand-in for COPY {argument}")
        image.from_stages.append((host.resolve(), target))
    elif options or source != ".":
        raise RuntimeError(f"the harness copies only the whole context: COPY {argument}")
    else:
        image.steps.append(Step("COPY", target, {}, image.workdir, image.user))


# THE BUILD CONTEXT
# ------------------------------------------------------------------------------


def ignore_rules(path: Path = REPO_DIR / ".dockerignore") -> list[tuple[bool, re.Pattern]]:
    """(exception?, pattern) per line, as Docker reads .dockerignore: paths relative to
    the context, `*` within one name, `**` across any number of directories."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip().strip("/"))
        parts = []
        for index, part in enumerate(pattern.split("/")):
            last = index == len(pattern.split("/")) - 1
            if part == "**":
                parts.append(".*" if last else "(?:.*/)?")
                continue
            regex = re.escape(part).replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
            regex = re.sub(r"\\\[(.*?)\\\]", lambda m: f"[{m[1]}]", regex)  # [abc] classes
            parts.append(regex if last else regex + "/")
        rules.append((exception, re.compile("".join(parts))))
    return rules


def ignored(relative: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Excluded when the last rule matching the path or one of its parents excludes it."""
    names = relative.split("/")
    candidates = ["/".join(names[: i + 1]) for i in range(len(names))]
    excluded = False
    for exception, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not exception
    return excluded


def copy_context(target: Path, source: Path = REPO_DIR) -> int:
    """`COPY . <target>`: the context without what .dockerignore excludes, modes kept,
    owned by whoever copies (root, as COPY makes it). Returns the number of files."""
    rules = ignore_rules(source / ".dockerignore")
    count = 0
    for directory, dirnames, filenames in os.walk(source):
        relative_dir = Path(directory).relative_to(source)
        dirnames[:] = [d for d in dirnames if not ignored(str(relative_dir / d), rules)]
        (target / relative_dir).mkdir(parents=True, exist_ok=True)
        for name in filenames + [d for d in dirnames if (Path(directory) / d).is_symlink()]:
            relative = relative_dir / name
            if ignored(str(relative), rules):
                continue
            destination = target / relative
            if (source / relative).is_symlink():
                destination.symlink_to(os.readlink(source / relative))
            else:
                shutil.copy2(source / relative, destination)
            count += 1
        dirnames[:] = [d for d in dirnames if not (Path(directory) / d).is_symlink()]
    return count
