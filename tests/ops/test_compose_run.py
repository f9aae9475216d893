"""What `make services` (tests/compose_run) relies on, checked cheaply in `make test`: it
can build every instruction of the image's runtime stage, and its `COPY . /app` takes
what Docker's would. The services themselves run in `make services` (CI), as root."""

import os
import shutil

from tests.compose_run.dockerfile import copy_context, runtime_stage
from tests.support.processes import REPO_DIR


def test_the_harness_builds_every_instruction_of_the_runtime_stage():
    """A Dockerfile instruction the harness cannot reproduce fails here, in `make test`,
    before `make services` would stop on it."""
    image = runtime_stage({"REQUIREMENTS": "dev"})
    assert image.user == "app"
    assert image.entrypoint == ["/app/ops/docker/entrypoint"]
    assert image.env["PATH"].startswith("/opt/venv/bin:")
    assert [(target, inside) for target, inside in image.from_stages] == [
        ((REPO_DIR / ".venv").resolve(), "/opt/venv")
    ]
    assert ("COPY", "/app") in [(step.keyword, step.argument) for step in image.steps]


def test_the_build_context_leaves_out_what_dockerignore_lists(tmp_path):
    source = tmp_path / "checkout"
    (source / "backend" / "core" / "__pycache__").mkdir(parents=True)
    (source / "backend" / "locale" / "ru").mkdir(parents=True)
    (source / "var").mkdir()
    shutil.copy(REPO_DIR / ".dockerignore", source)
    kept = ["backend/manage.py", "backend/core/settings.py", "backend/locale/ru/django.po"]
    left_out = [
        ".env",
        ".env.prod",
        "var/run.env",
        "backend/core/__pycache__/settings.cpython-311.pyc",
        "backend/locale/ru/django.mo",
        "docker-compose.yml",
    ]
    for name in kept + left_out:
        (source / name).write_text("x")
    (source / "backend" / "manage.py").chmod(0o755)
    (source / ".venv").symlink_to(REPO_DIR / ".venv")

    copy_context(tmp_path / "app", source)

    copied = {
        str(path.relative_to(tmp_path / "app"))
        for path in (tmp_path / "app").rglob("*")
        if path.is_file() or path.is_symlink()
    }
    assert set(kept) <= copied
    assert not copied & {*left_out, ".venv"}
    assert os.access(tmp_path / "app" / "backend" / "manage.py", os.X_OK)
