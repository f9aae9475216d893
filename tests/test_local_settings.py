"""Which local files the settings read: `var/run.env` (what `make run` chose), then `.env`,
real variables winning over both, and neither when DJANGO_READ_DOT_ENV_FILE is off."""

import shutil

import pytest

from tests.support.fresh_python import setting_values
from tests.support.processes import BACKEND_DIR


@pytest.fixture
def repo(tmp_path):
    """A copy of backend/ in a repository of its own, to put local files beside it."""
    shutil.copytree(BACKEND_DIR, tmp_path / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "var").mkdir()
    return tmp_path


def setting(repo, name: str, **env: str):
    """The setting as the repo's settings load it, local files read unless told not to."""
    env = {"DJANGO_READ_DOT_ENV_FILE": None, **env}
    values = setting_values(name, cwd=repo / "backend", **env)
    return values[name]


def test_make_runs_choices_win_over_env_and_real_variables_win_over_both(repo):
    (repo / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo / ".env").write_text("CELERY_BROKER_URL=redis://elsewhere:6379/0\nTIME_ZONE=Asia/Tokyo\n")

    assert setting(repo, "CELERY_BROKER_URL") == "redis://127.0.0.1:6390/0"
    assert setting(repo, "TIME_ZONE") == "Asia/Tokyo"
    assert setting(repo, "CELERY_BROKER_URL", CELERY_BROKER_URL="redis://real:1/0") == (
        "redis://real:1/0"
    )


def test_no_local_file_is_read_when_told_not_to(repo):
    (repo / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo / ".env").write_text("TIME_ZONE=Asia/Tokyo\n")

    assert setting(repo, "TIME_ZONE", DJANGO_READ_DOT_ENV_FILE="False") == "UTC"
    assert setting(repo, "CELERY_BROKER_URL", DJANGO_READ_DOT_ENV_FILE="False") == (
        "redis://localhost:6379/0"
    )
