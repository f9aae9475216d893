"""Python run in a fresh process with exactly the environment a deployment would give it:
nothing from the caller's shell, the suite's settings or a developer's `.env` leaks in.

Settings are read once per process, so what they do with a given environment (refuse it,
build ANYMAIL from it, start Sentry) is only seen by importing them afresh."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import BACKEND_DIR


def clean_env(**variables: str | None) -> dict[str, str]:
    """PATH and a locale, the settings module, no local env files; then `variables`
    (None leaves one unset, e.g. DJANGO_READ_DOT_ENV_FILE to get its default)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "core.settings",
        "DJANGO_READ_DOT_ENV_FILE": "False",
        **variables,
    }
    return {name: value for name, value in env.items() if value is not None}


def fresh_python(
    *args: str, env: dict[str, str] | None = None, cwd: Path = BACKEND_DIR, **variables: str | None
) -> subprocess.CompletedProcess:
    """`python ARGS` in backend/, with `env` as it is or else clean_env(**variables)."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=clean_env(**variables) if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def printed_json(code: str, *args: str, **kwargs):
    """What `code` (given ARGS) prints last, as JSON; the process must succeed."""
    done = fresh_python("-c", code, *args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def setting_values(*names: str, **kwargs) -> dict:
    """The named Django settings as a fresh process loads them (JSON, str for the rest)."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    return printed_json(code, **kwargs)


def manage(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return fresh_python("manage.py", *args, **kwargs)


# Every django-environ read (env.str, env.db, env.list, ...) goes through Env.get_value.
_RECORD_VARIABLES_READ = """
import json, runpy, sys, environ
read = set()
get_value = environ.Env.get_value
def recording(self, var, *args, **kwargs):
    read.add(var)
    return get_value(self, var, *args, **kwargs)
environ.Env.get_value = recording
import core.settings
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(read)))
"""


def variables_read(flower_config: Path, **variables: str | None) -> set[str]:
    """The variables the settings and Flower's config read when loaded with `variables`
    (reads in a branch the environment does not take are not seen: load it both ways)."""
    return set(printed_json(_RECORD_VARIABLES_READ, str(flower_config), **variables))
