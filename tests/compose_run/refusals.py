"""What production must refuse, and how it says so.

- .env.prod.example copied as it is, each container built from our image on its own
  (whatever else would stop first under compose): it exits non-zero naming the
  placeholders it got (tests/compose_run/placeholders.py). `up` with that file as a
  whole runs as a Project with `placeholders` (tests/compose_run/project.py);
- an env file without one of the variables docker-compose.prod.yml requires
  (`${VAR:?message}`): compose itself refuses, with that message.
"""

import re
from pathlib import Path

from tests.compose_run.container import Container, container_hostname
from tests.compose_run.image import Built
from tests.compose_run.placeholders import REFUSAL_LIMIT, verdict
from tests.compose_run.project import Row
from tests.support.compose import compose_config, image_services
from tests.support.processes import REPO_DIR

PROD_FILE = REPO_DIR / "docker-compose.prod.yml"
REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")


def each_container(
    label: str, model: dict, image: Built, placeholders: set[str], scratch: Path, logs: Path
) -> list[Row]:
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, service in image_services(model).items():
        container = Container(
            name,
            service,
            image,
            scratch / name,
            image.spec.stage_mounts(),
            "127.0.0.1\tlocalhost\n",
            container_hostname(),
            logs / f"{name}.log",
        )
        container.start()
        status = container.wait(REFUSAL_LIMIT)
        container.stop()
        refused, said = verdict(container.env, status, container.log_tail(60), placeholders)
        rows.append(Row(label, name, True, refused, container.elapsed(), said))
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
