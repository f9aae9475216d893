"""The image's entrypoint (ops/docker/entrypoint): it refuses the example's placeholder
secrets, and its wait for the services (wait_for_services.py) loads with Flower's
environment."""

import subprocess

import pytest

from tests.support.compose import ENTRYPOINT, PLACEHOLDER, container_env
from tests.support.fresh_python import clean_env, fresh_python
from tests.support.processes import REPO_DIR as REPO

WAIT_FOR_SERVICES = REPO / "ops" / "docker" / "wait_for_services.py"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECRET_KEY", PLACEHOLDER),
        # REDIS_PASSWORD and POSTGRES_PASSWORD reach the app inside these URLs.
        ("CELERY_BROKER_URL", f"redis://:{PLACEHOLDER}@redis:6379/0"),
        ("DATABASE_URL", f"postgres://commission:{PLACEHOLDER}@postgres:5432/commission"),
    ],
)
def test_entrypoint_refuses_placeholder_secrets(name, value):
    result = subprocess.run(
        [str(ENTRYPOINT), "true"],
        env=clean_env(DJANGO_ENV="production", **{name: value}),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert name in result.stderr


def test_the_entrypoints_wait_loads_with_flowers_environment(prod_model):
    """Flower's container has no secret key; the entrypoint's wait loads the production
    settings before ops/start/flower makes Flower's throwaway one. It must get past them
    to the broker (here a port where nothing listens, so it gives up at once)."""
    env = container_env(prod_model, "flower", CELERY_BROKER_URL="redis://:pw@127.0.0.1:9/0")
    assert "DJANGO_SECRET_KEY" not in env
    result = fresh_python(str(WAIT_FOR_SERVICES), "--timeout", "0", env=env)
    assert "settings do not load" not in result.stderr
    assert "gave up waiting for Redis at 127.0.0.1:9" in result.stderr
