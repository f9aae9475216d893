"""Which local files the settings read: `var/run.env` (what `make run` chose), then `.env`,
real variables winning over both, and neither when DJANGO_READ_DOT_ENV_FILE is off.
(Flower's login that `make run` keeps in var/run.env: tests/ops/test_dev_flower_auth.py.)"""

from tests.support.fresh_python import setting_values


def setting(repo, name: str, **env: str):
    """The setting as the repo's settings load it, local files read unless told not to."""
    env = {"DJANGO_READ_DOT_ENV_FILE": None, **env}
    values = setting_values(name, cwd=repo / "backend", **env)
    return values[name]


def test_make_runs_choices_win_over_env_and_real_variables_win_over_both(repo_copy):
    (repo_copy / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo_copy / ".env").write_text(
        "CELERY_BROKER_URL=redis://elsewhere:6379/0\nTIME_ZONE=Asia/Tokyo\n"
    )

    assert setting(repo_copy, "CELERY_BROKER_URL") == "redis://127.0.0.1:6390/0"
    assert setting(repo_copy, "TIME_ZONE") == "Asia/Tokyo"
    assert setting(repo_copy, "CELERY_BROKER_URL", CELERY_BROKER_URL="redis://real:1/0") == (
        "redis://real:1/0"
    )


def test_no_local_file_is_read_when_told_not_to(repo_copy):
    (repo_copy / "var" / "run.env").write_text("CELERY_BROKER_URL=redis://127.0.0.1:6390/0\n")
    (repo_copy / ".env").write_text("TIME_ZONE=Asia/Tokyo\n")

    assert setting(repo_copy, "TIME_ZONE", DJANGO_READ_DOT_ENV_FILE="False") == "UTC"
    assert setting(repo_copy, "CELERY_BROKER_URL", DJANGO_READ_DOT_ENV_FILE="False") == (
        "redis://localhost:6379/0"
    )
