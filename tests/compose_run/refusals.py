"""What production must refuse, and how it says so.

- .env.prod.example copied as it is: every container built from our image stops in the
  entrypoint, naming each variable that still holds the example's `change-me`;
- an env file without one of the variables docker-compose.prod.yml requires
  (`${VAR:?message}`): compose itself refuses, with that message.
"""

import re
from pathlib import Path

from tests.compose_run.container import Container, container_hostname
from tests.compose_run.image import Built
from tests.compose_run.project import Row
from tests.support.compose import PLACEHOLDER, compose_config, image_services, resolved
from tests.support.processes import REPO_DIR

PROD_FILE = REPO_DIR / "docker-compose.prod.yml"
PROD_EXAMPLE = REPO_DIR / ".env.prod.example"
REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")
PLACEHOLDER_REFUSAL = re.compile(r"entrypoint: still the example's 'change-me' value in: (.*)\.")
# The entrypoint refuses before it waits for anything; this is plenty.
REFUSAL_LIMIT = 30


def example_env(image: Built, scratch: Path, logs: Path) -> list[Row]:
    label = "prod, .env.prod.example as is"
    model = resolved("prod", PROD_EXAMPLE)
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, service in image_services(model).items():
        container = Container(
            name,
            service,
            image,
            scratch / name,
            [[str(host), inside, True] for host, inside in image.spec.from_stages],
            "127.0.0.1\tlocalhost\n",
            container_hostname(),
            logs / f"{name}.log",
        )
        expected = sorted(k for k, v in container.env.items() if PLACEHOLDER in v)
        container.start()
        status = container.wait(REFUSAL_LIMIT)
        container.stop()
        log = container.log_tail(40)
        named = re.search(PLACEHOLDER_REFUSAL, log)
        refused = status not in (None, 0) and named and sorted(named[1].split()) == expected
        note = named[0] if named else f"exit {status}: {container.last_words()}"
        if named and not refused:
            note += f" (expected: {' '.join(expected)})"
        rows.append(Row(label, name, status is not None, bool(refused), container.elapsed(), note))
    return rows


def missing_variables(filled_env_file: Path, scratch: Path) -> list[Row]:
    lines = PROD_FILE.read_text().splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required = dict(REQUIRED.findall(code))
    lines = filled_env_file.read_text().splitlines()
    rows = []
    for name, message in required.items():
        env_file = scratch / f"without-{name}.env"
        env_file.write_text("\n".join(line for line in lines if not line.startswith(f"{name}=")))
        result = compose_config("prod", "-q", env_file=env_file)
        said = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        refused = result.returncode != 0 and message in result.stderr
        rows.append(Row(f"prod, no {name}", "(compose up)", False, refused, None, said))
    return rows
