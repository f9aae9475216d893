"""Flower's configuration (ops/flower/flowerconfig.py), loaded as Flower loads it: from the
environment, never without credentials, read-only in production with a strong password,
and nothing in it that Flower would drop or refuse."""

import logging
import runpy
import types

import flower
import pytest
from flower.options import options
from flower.views.tasks import TASK_COLUMNS

from tests.support.compose import container_env
from tests.support.flower import FLOWER_CONFIG
from tests.support.fresh_python import fresh_python


def test_flower_config_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:one-long-password-1, audit:two-long-password-2")
    monkeypatch.setenv("FLOWER_STATE_FILE", str(tmp_path / "volume" / "flower-state"))
    monkeypatch.setenv("FLOWER_URL_PREFIX", "/flower/")
    monkeypatch.setenv("FLOWER_MAX_TASKS", "500")
    for name in ("FLOWER_PORT", "FLOWER_ADDRESS", "FLOWER_STATE_SAVE_INTERVAL"):
        monkeypatch.delenv(name, raising=False)

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == ["ops:one-long-password-1", "audit:two-long-password-2"]
    assert config["read_only"] is True
    assert config["persistent"] is True
    assert config["db"] == str(tmp_path / "volume" / "flower-state")
    assert (tmp_path / "volume").is_dir()
    assert config["state_save_interval"] == 60_000
    assert config["max_tasks"] == 500
    assert config["url_prefix"] == "flower"
    assert (config["port"], config["address"]) == (5555, "0.0.0.0")  # noqa: S104


def test_flower_config_treats_empty_variables_as_unset(monkeypatch):
    for name in ("FLOWER_ADDRESS", "FLOWER_STATE_FILE", "FLOWER_MAX_TASKS"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == ["ops:dev"]
    assert config["address"] == "127.0.0.1"
    assert config["db"].endswith("var/flower/state")
    assert config["max_tasks"] == 10_000


def test_flower_config_rejects_credentials_without_a_password(monkeypatch):
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops")
    with pytest.raises(RuntimeError, match="user:password"):
        runpy.run_path(str(FLOWER_CONFIG))


@pytest.mark.parametrize("value", ["", " , "])
def test_flower_config_refuses_no_credentials_in_development_too(monkeypatch, value):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)

    with pytest.raises(RuntimeError, match="FLOWER_BASIC_AUTH is required"):
        runpy.run_path(str(FLOWER_CONFIG))


@pytest.mark.parametrize(
    "password", ["change-me", "short", "change-me-change-me-please", "commission-demo-in-prod"]
)
def test_production_flower_refuses_a_placeholder_or_short_password(monkeypatch, password):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", f"ops:{password}")

    with pytest.raises(RuntimeError, match="placeholder or short password for ops"):
        runpy.run_path(str(FLOWER_CONFIG))


def test_development_flower_may_act_and_take_any_password(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["read_only"] is False


def test_flower_accepts_its_production_environment(prod_model, tmp_path):
    """Flower reads FLOWER_* variables itself (an empty number would stop it) and then
    runs ops/flower/flowerconfig.py, which refuses production without basic auth."""
    env = container_env(prod_model, "flower", FLOWER_STATE_FILE=str(tmp_path / "flower" / "state"))
    code = (
        "import runpy, sys\n"
        "from flower.command import apply_env_options\n"
        "apply_env_options()\n"
        "options = runpy.run_path(sys.argv[1])\n"
        "assert options['basic_auth'], 'no basic auth'\n"
        "assert options['persistent'] and options['db'] == sys.argv[2]\n"
    )
    result = fresh_python("-c", code, str(FLOWER_CONFIG), env["FLOWER_STATE_FILE"], env=env)
    assert result.returncode == 0, result.stderr


def test_dev_flower_has_credentials_its_config_accepts(dev_model, tmp_path):
    """Flower never runs open, `docker compose up` included: compose passes a default
    (FLOWER_BASIC_AUTH from .env or the shell wins), which the config takes in development."""
    env = container_env(dev_model, "flower", FLOWER_STATE_FILE=str(tmp_path / "flower" / "state"))
    assert env["DJANGO_ENV"] == "development"
    assert env["FLOWER_BASIC_AUTH"] == "flower:commission-demo"
    code = (
        "import runpy, sys\n"
        "from flower.command import apply_env_options\n"
        "apply_env_options()\n"
        "options = runpy.run_path(sys.argv[1])\n"
        "assert options['basic_auth'] == ['flower:commission-demo'], options['basic_auth']\n"
    )
    result = fresh_python("-c", code, str(FLOWER_CONFIG), env=env)
    assert result.returncode == 0, result.stderr


def test_flower_lists_both_kinds_of_arguments_and_keeps_quiet_while_workers_start(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))

    columns = [name.strip() for name in config["tasks_columns"].split(",")]
    # A task queued by keyword (`.delay(user_id=3)`) shows `()` under args: kwargs too. The
    # uuid links to the task's page; the list sorts by `received`, newest first.
    assert {"uuid", "state", "args", "kwargs", "received"} <= set(columns)
    # The tasks page leaves out, without a word, a column Flower does not know
    # (flower.views.tasks.visible_task_columns): each one named must be one of its own.
    unknown = [name for name in columns if name not in TASK_COLUMNS]
    assert unknown == [], f"not a task column of Flower's: {unknown}; it has {sorted(TASK_COLUMNS)}"
    quiet = logging.getLogger("flower.inspector").filters[-1]
    record = logging.LogRecord("flower.inspector", logging.WARNING, "", 0, "x", (), None)
    record.msg, record.args = "Inspect method %s failed", ("stats",)
    assert quiet.filter(record) is False
    record.msg, record.args = "Inspect method %s failed: %s", ("stats", "boom")
    assert quiet.filter(record) is True


def test_the_flower_config_defines_nothing_flower_does_not_take(monkeypatch):
    """Flower applies every top-level name of the file that is one of its options, and
    refuses a value of the wrong type (an imported module named like an option); any other
    name it ignores without a word, so a value under any other name (a misspelt option)
    would be a setting that never applies. Helpers start with `_`; what the file imports
    for itself is a module or a class, never a setting."""
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))
    public = {name: value for name, value in config.items() if not name.startswith("_")}
    for name, value in public.items():
        if name in options:
            options._options[options._normalize_name(name)].set(value)  # raises on a bad type
    ignored = [
        name
        for name, value in public.items()
        if name not in options and not isinstance(value, types.ModuleType | type)
    ]
    assert ignored == [], f"not options of Flower {flower.__version__}: {ignored}"
