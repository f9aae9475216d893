"""Flower's configuration (ops/flower/flowerconfig.py), loaded as Flower loads it: from the
environment, never without credentials, read-only in production with a strong password,
and nothing in it that Flower would drop or refuse."""

import runpy

import pytest

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
