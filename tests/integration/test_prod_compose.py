"""docker-compose.prod.yml's Redis, run here: its start command as compose resolves it, with
the password from the secret file, and its health check."""

import subprocess
from pathlib import Path

import pytest
import redis

from tests.support.compose import command_of
from tests.support.processes import free_port
from tests.support.prod_env import REDIS_SECRET, redis_health_check, unescaped
from tests.support.waiting import StopWaiting, wait_for


@pytest.mark.integration
def test_redis_starts_with_the_password_from_the_secret_file(
    prod_filled_in, tmp_path, redis_secret
):
    """Redis's command as compose resolves it, run here: the image's entrypoint (which
    only drops to the redis user) skipped, a free port and a scratch directory added."""
    model, _ = prod_filled_in
    secret, password = redis_secret
    script = unescaped(command_of(model["services"]["redis"])[2])
    for expected in (REDIS_SECRET, "exec docker-entrypoint.sh redis-server - "):
        assert expected in script
    port = free_port()
    script = script.replace(REDIS_SECRET, str(secret)).replace(
        "docker-entrypoint.sh redis-server - ",
        f"redis-server - --port {port} --bind 127.0.0.1 --dir {tmp_path} ",
    )
    server = subprocess.Popen(
        ["sh", "-c", script],
        stdout=(tmp_path / "redis.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:

        def answers():
            if server.poll() is not None:
                raise StopWaiting((tmp_path / "redis.log").read_text())
            return redis.Redis("127.0.0.1", port, password=password).ping()

        wait_for(answers, timeout=20, what="redis-server")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis("127.0.0.1", port).ping()
        config = redis.Redis("127.0.0.1", port, password=password).config_get("*")
        assert config["maxmemory"] == str(512 * 1024 * 1024)
        assert config["maxmemory-policy"] == "noeviction"
        assert config["appendonly"] == "yes"
        assert password not in Path(f"/proc/{server.pid}/cmdline").read_text()

        check = redis_health_check(model, secret, port)
        assert subprocess.run(["sh", "-c", check], timeout=30).returncode == 0
        secret.write_text("not-the-password")
        assert subprocess.run(["sh", "-c", check], timeout=30).returncode != 0
    finally:
        server.terminate()
        server.wait(timeout=30)
