"""Flower's configuration (ops/flower/flowerconfig.py), loaded as Flower loads it: from the
environment, never without credentials, read-only in production with a strong password,
and nothing in it that Flower would drop or refuse."""

import logging
import runpy

import pytest
from flower.options import options

from tests.support.flower import FLOWER_CONFIG


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


def test_flower_lists_args_and_queue_and_keeps_quiet_while_workers_start(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))

    columns = config["tasks_columns"].split(",")
    assert {"name", "args", "routing_key", "state", "worker"} <= set(columns)
    quiet = logging.getLogger("flower.inspector").filters[-1]
    record = logging.LogRecord("flower.inspector", logging.WARNING, "", 0, "x", (), None)
    record.msg, record.args = "Inspect method %s failed", ("stats",)
    assert quiet.filter(record) is False
    record.msg, record.args = "Inspect method %s failed: %s", ("stats", "boom")
    assert quiet.filter(record) is True


def test_the_flower_config_defines_nothing_flower_does_not_take(monkeypatch):
    """Flower applies every top-level name of the file that is one of its options, and
    refuses a value of the wrong type (an imported module named like an option)."""

    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))
    public = {name: value for name, value in config.items() if not name.startswith("_")}
    for name, value in public.items():
        if name in options:
            options._options[options._normalize_name(name)].set(value)  # raises on a bad type
