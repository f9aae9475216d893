"""What refusing the example's placeholders means: a non-zero exit that names them.

The variables a container must name are the env file's own placeholders (`NAME=change-me`)
that reach it under their own name; one that reaches it only inside another value (a
password inside DATABASE_URL) may be named either way.
"""

import re
from pathlib import Path

from tests.support.compose import PLACEHOLDER, active_entries

# Long enough for a program to read its environment and refuse.
REFUSAL_LIMIT = 30


def placeholder_names(env_file: Path) -> set[str]:
    return {name for name, value in active_entries(env_file).items() if PLACEHOLDER in value}


def named(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Z0-9_]){re.escape(name)}(?![A-Z0-9_])", text) is not None


def verdict(env: dict[str, str], status: int | None, output: str, placeholders: set[str]):
    """(refused as it must, what it said) for a container that got `env` and exited
    with `status` (None: still running after REFUSAL_LIMIT)."""
    if status is None:
        return False, f"did not refuse: still running after {REFUSAL_LIMIT} s"
    holding = sorted(name for name, value in env.items() if PLACEHOLDER in value)
    own = [name for name in holding if name in placeholders]
    lines = [line.strip() for line in output.splitlines() if any(named(n, line) for n in holding)]
    said = " / ".join(dict.fromkeys(lines)) or (output.strip().splitlines() or [""])[-1]
    if status == 0:
        return False, f"exited 0 with the example's placeholders in {' '.join(holding)}"
    if own and not all(named(name, output) for name in own):
        missing = [name for name in own if not named(name, output)]
        return False, f"exited {status} without naming {' '.join(missing)}: {said}"
    if not own and holding and not lines:
        return False, f"exited {status} without naming any of {' '.join(holding)}: {said}"
    return True, said
