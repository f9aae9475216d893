"""docker-compose.sentinel.yml over docker-compose.prod.yml: a replica and three Sentinels
beside `redis`, each with its own volume, health check and passwords from compose secrets;
the app services on a sentinel:// broker URL. The default stack is checked unchanged by
test_compose.py (its services) and test_prod_compose.py.

Read as Compose v2 resolves both files (ops/scripts/compose-config.sh sentinel), without a
Docker engine. The start scripts (ops/sentinel/) and the Sentinel health check run here:
their paths swapped for temporary ones, this machine's redis-server for the image's; the
last test fails a master over with them.
"""

import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import command_of, image_services, seconds
from tests.support.fresh_python import clean_env
from tests.support.processes import REPO_DIR, free_port
from tests.support.prod_env import REDIS_SECRET, filled_in, recording_redis_cli, unescaped
from tests.support.sentinel import DOWN_AFTER_MS
from tests.support.waiting import StopWaiting, wait_for

SENTINEL_COMPOSE = REPO_DIR / "docker-compose.sentinel.yml"
NODE_SCRIPT = REPO_DIR / "ops" / "sentinel" / "redis-node.sh"
SENTINEL_SCRIPT = REPO_DIR / "ops" / "sentinel" / "sentinel.sh"
SENTINEL_SECRET = "/run/secrets/sentinel_password"
SENTINELS = ["redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"]
NODES = ["redis", "redis-replica"]
APP_SERVICES = ["migrate", "web", "worker-reports", "worker-email", "beat", "flower"]


def sentinel_config(env_file: Path, *args: str):
    return subprocess.run(
        [str(REPO_DIR / "ops" / "scripts" / "compose-config.sh"), "sentinel", *args],
        cwd=REPO_DIR,
        env=clean_env(PYTHON=sys.executable, PROD_ENV_FILE=str(env_file)),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def sentinel_layout(tmp_path_factory):
    """Both files with the env file as an operator fills it in, and its secrets."""
    sentinel_password = secrets.token_urlsafe(32)
    path, values = filled_in(
        tmp_path_factory.mktemp("env") / ".env.prod",
        CELERY_BROKER_SENTINEL_PASSWORD=sentinel_password,
    )
    result = sentinel_config(path, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "variable is not set" not in result.stderr, result.stderr
    return json.loads(result.stdout), {
        **values,
        "CELERY_BROKER_SENTINEL_PASSWORD": sentinel_password,
    }


# THE LAYOUT
# ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CELERY_BROKER_SENTINEL_PASSWORD", "REDIS_PASSWORD"])
def test_sentinel_layout_refuses_to_start_without_a_password(tmp_path, name):
    path, _ = filled_in(tmp_path / ".env.prod", CELERY_BROKER_SENTINEL_PASSWORD="s3cret")
    path.write_text(
        "".join(
            f"{line}\n" for line in path.read_text().splitlines() if not line.startswith(f"{name}=")
        )
    )
    result = sentinel_config(path, "-q")
    assert result.returncode != 0
    assert name in result.stderr


def test_sentinel_layout_adds_a_replica_and_three_sentinels(sentinel_layout, prod_model):
    model, _ = sentinel_layout
    assert set(model["services"]) == set(prod_model["services"]) | {"redis-replica", *SENTINELS}
    # Each keeps its own data: the nodes' AOF, the Sentinels' rewritten sentinel.conf.
    data = {}
    for name in [*NODES, *SENTINELS]:
        [volume] = model["services"][name]["volumes"]
        assert volume["type"] == "volume" and volume["target"] == "/data", name
        assert volume["source"] in model["volumes"], name
        data[name] = volume["source"]
    assert len(set(data.values())) == len(data)
    assert data["redis"] == "redis-data"  # the default stack's queue survives the switch


def test_new_services_are_healthy_before_anything_uses_them(sentinel_layout):
    model, _ = sentinel_layout
    services = model["services"]
    for name in ["redis-replica", *SENTINELS]:
        service = services[name]
        assert service["image"] == services["redis"]["image"], name
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD-SHELL", name
        assert seconds(service["healthcheck"]["start_period"]) >= 30, name
        assert not service.get("ports"), f"{name} is published"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name in APP_SERVICES:
        for sentinel in SENTINELS:
            assert services[name]["depends_on"][sentinel]["condition"] == "service_healthy", name


def test_app_services_find_the_master_through_the_sentinels(sentinel_layout):
    model, values = sentinel_layout
    password = values["REDIS_PASSWORD"]
    url = ";".join(f"sentinel://:{password}@{name}:26379" for name in SENTINELS)
    for name, service in image_services(model).items():
        env = service["environment"]
        assert env["CELERY_BROKER_URL"] == url, name
        assert env["CELERY_BROKER_SENTINEL_MASTER"] == "mymaster", name
        assert env["CELERY_BROKER_SENTINEL_PASSWORD"] == values["CELERY_BROKER_SENTINEL_PASSWORD"]
    for name in [*NODES, *SENTINELS]:
        assert model["services"][name]["environment"]["SENTINEL_MASTER_NAME"] == "mymaster"


def test_nodes_and_sentinels_get_their_passwords_only_as_secret_files(sentinel_layout):
    model, values = sentinel_layout
    passwords = [values["REDIS_PASSWORD"], values["CELERY_BROKER_SENTINEL_PASSWORD"]]
    for name in [*NODES, *SENTINELS]:
        service = model["services"][name]
        mounted = {secret["target"]: secret["mode"] for secret in service["secrets"]}
        assert mounted == {REDIS_SECRET: "0400", SENTINEL_SECRET: "0400"}, name
        assert not any(password in json.dumps(service) for password in passwords), name
    assert model["secrets"]["sentinel_password"]["environment"] == (
        "CELERY_BROKER_SENTINEL_PASSWORD"
    )
    # The x- blocks are only what the services are built from.
    outside = {k: v for k, v in model.items() if k != "services" and not k.startswith("x-")}
    outside = json.dumps(outside)
    assert not any(password in outside for password in passwords)


def test_start_scripts_come_read_only_from_ops_sentinel(sentinel_layout):
    model, _ = sentinel_layout
    scripts = {"redis-node": NODE_SCRIPT, "sentinel": SENTINEL_SCRIPT}
    for config, path in scripts.items():
        assert Path(model["configs"][config]["file"]) == path
    for name in [*NODES, *SENTINELS]:
        service = model["services"][name]
        [config] = service["configs"]
        assert command_of(service) == ["sh", config["target"]], name
        assert config["source"] == ("sentinel" if name in SENTINELS else "redis-node")


def test_sentinels_monitor_the_master_with_a_quorum_of_two(sentinel_layout):
    model, _ = sentinel_layout
    for name in SENTINELS:
        env = model["services"][name]["environment"]
        assert env["SENTINEL_ANNOUNCE_HOSTNAME"] == name
        assert (env["SENTINEL_MONITOR_HOST"], env["SENTINEL_MONITOR_PORT"]) == ("redis", "6379")
        assert env["SENTINEL_QUORUM"] == "2"
        assert 2000 <= int(env["SENTINEL_DOWN_AFTER_MS"]) <= 30000
    replica = model["services"]["redis-replica"]["environment"]
    assert replica["REDIS_REPLICA_OF"] == "redis 6379"
    assert model["services"]["redis"]["environment"]["REDIS_REPLICA_OF"] == ""


# THE SENTINEL HEALTH CHECK AND SCRIPTS, RUN HERE
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "healthy"),
    [
        ("redis-replica\n6379", True),
        ("NOAUTH HELLO must be called with the client already authenticated", False),
        ("ERR No such master with that name", False),
        ("", False),
    ],
)
def test_sentinel_health_check_wants_a_master_address(sentinel_layout, tmp_path, answer, healthy):
    model, _ = sentinel_layout
    service = model["services"]["redis-sentinel-2"]
    test = service["healthcheck"]["test"]
    secret = tmp_path / "sentinel_password"
    secret.write_text("the-sentinel-password")
    stub_dir = recording_redis_cli(tmp_path, answer)
    result = subprocess.run(
        ["sh", "-c", unescaped(test[1]).replace(SENTINEL_SECRET, str(secret))],
        env=clean_env(
            PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}",
            SENTINEL_MASTER_NAME=service["environment"]["SENTINEL_MASTER_NAME"],
        ),
        timeout=30,
    )
    assert (result.returncode == 0) is healthy
    assert (tmp_path / "auth").read_text() == "the-sentinel-password"
    assert (
        tmp_path / "argv"
    ).read_text() == "-p 26379 --raw sentinel get-master-addr-by-name mymaster"


def sentinel_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """sentinel.sh with `echo` for redis-server, writing into tmp_path."""
    return subprocess.run(
        ["sh", str(SENTINEL_SCRIPT)],
        env=clean_env(REDIS_SERVER="echo", SENTINEL_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def run_sentinel_script(tmp_path: Path, **env: str) -> str:
    """sentinel.sh, started: the sentinel.conf it writes."""
    result = sentinel_script(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "sentinel.conf"), "--sentinel"]
    return (tmp_path / "sentinel.conf").read_text()


def test_sentinel_conf_comes_from_the_environment_and_keeps_what_sentinel_learnt(tmp_path):
    (tmp_path / "redis").write_text("node-pw")
    (tmp_path / "sentinel").write_text("sentinel-pw")
    env = {
        "SENTINEL_ANNOUNCE_HOSTNAME": "redis-sentinel-1",
        "REDIS_PASSWORD_FILE": str(tmp_path / "redis"),
        "SENTINEL_PASSWORD_FILE": str(tmp_path / "sentinel"),
    }
    conf = run_sentinel_script(tmp_path, **env).splitlines()
    for line in [
        "sentinel resolve-hostnames yes",
        "sentinel announce-hostnames yes",
        "sentinel announce-ip redis-sentinel-1",
        "sentinel monitor mymaster redis 6379 2",
        "sentinel auth-pass mymaster node-pw",
        "sentinel down-after-milliseconds mymaster 10000",
        "sentinel failover-timeout mymaster 60000",
        'requirepass "sentinel-pw"',
    ]:
        assert line in conf
    assert stat.S_IMODE((tmp_path / "sentinel.conf").stat().st_mode) == 0o600
    # After a failover Sentinel rewrote the file: the new master and its state stay, what
    # comes from the environment (a new password) is written again.
    learnt = [
        "sentinel myid 0123456789abcdef0123456789abcdef01234567",
        "sentinel config-epoch mymaster 1",
        "sentinel known-replica mymaster redis 6379",
        "sentinel current-epoch 1",
    ]
    rewritten = [
        line.replace("monitor mymaster redis 6379", "monitor mymaster redis-replica 6379")
        for line in conf
        if "auth-pass" not in line
    ]
    (tmp_path / "sentinel.conf").write_text(
        "\n".join([*rewritten, "user default on #abc", *learnt]) + "\n"
    )
    (tmp_path / "redis").write_text("new-node-pw")
    conf = run_sentinel_script(tmp_path, **env).splitlines()
    assert "sentinel monitor mymaster redis-replica 6379 2" in conf
    assert not [line for line in conf if line.startswith("sentinel monitor mymaster redis ")]
    assert "sentinel auth-pass mymaster new-node-pw" in conf
    assert set(learnt) <= set(conf)
    assert "user default on #abc" not in conf


@pytest.mark.parametrize("down_after", ["1000", "1999", "10s"])
def test_sentinel_refuses_a_down_after_within_its_own_ping_period(tmp_path, down_after):
    (tmp_path / "redis").write_text("node-pw")
    result = sentinel_script(
        tmp_path,
        SENTINEL_ANNOUNCE_HOSTNAME="redis-sentinel-1",
        REDIS_PASSWORD_FILE=str(tmp_path / "redis"),
        SENTINEL_DOWN_AFTER_MS=down_after,
    )
    assert result.returncode == 1
    assert f"SENTINEL_DOWN_AFTER_MS must be milliseconds, 2000 or more (not '{down_after}')" in (
        result.stderr
    )
    assert not (tmp_path / "sentinel.conf").exists()


def test_redis_node_starts_as_configured_when_no_sentinel_answers(tmp_path):
    (tmp_path / "redis").write_text("node-pw")
    server = tmp_path / "server"
    server.write_text(f'#!/bin/sh\ncat > {tmp_path}/conf\nprintf "%s" "$*" > {tmp_path}/argv\n')
    server.chmod(0o755)
    result = subprocess.run(
        ["sh", str(NODE_SCRIPT), "--bind", "127.0.0.1"],
        env=clean_env(
            REDIS_SERVER=str(server),
            REDIS_ANNOUNCE_HOSTNAME="redis-replica",
            REDIS_REPLICA_OF="redis 6379",
            REDIS_PASSWORD_FILE=str(tmp_path / "redis"),
            SENTINEL_ADDRESSES=f"127.0.0.1:{free_port()}",
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "argv").read_text() == "- --bind 127.0.0.1"
    conf = (tmp_path / "conf").read_text().splitlines()
    for line in [
        'requirepass "node-pw"',
        'masterauth "node-pw"',
        "appendonly yes",
        "maxmemory 512mb",
        "maxmemory-policy noeviction",
        "replica-announce-ip redis-replica",
        "min-replicas-to-write 0",
        "replicaof redis 6379",
    ]:
        assert line in conf


# A FAILOVER WITH THE SCRIPTS
# ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_the_scripts_fail_a_killed_master_over_and_bring_it_back_as_a_replica(tmp_path):
    """Master, replica and three Sentinels on loopback, started by the layout's scripts
    (one-second down-after); the master killed with SIGKILL, the replica promoted; the old
    master started again by its script joins the new one as a replica."""
    import redis

    (tmp_path / "redis_pw").write_text("node-pw")
    (tmp_path / "sentinel_pw").write_text("sentinel-pw")
    ports = {name: free_port() for name in ["master", "replica", "s1", "s2", "s3"]}
    sentinels = " ".join(f"127.0.0.1:{ports[s]}" for s in ["s1", "s2", "s3"])
    common = {
        "REDIS_SERVER": "redis-server",
        "REDIS_PASSWORD_FILE": str(tmp_path / "redis_pw"),
        "SENTINEL_PASSWORD_FILE": str(tmp_path / "sentinel_pw"),
    }
    processes: dict[str, subprocess.Popen] = {}

    def start(name: str, script: Path, *args: str, **env: str) -> None:
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        processes[name] = subprocess.Popen(
            ["sh", str(script), *args, "--bind", "127.0.0.1"],
            cwd=workdir,
            env=clean_env(**common, **env),
            stdout=(workdir / "log").open("a"),
            stderr=subprocess.STDOUT,
        )

    def node(name: str, hostname: str, replica_of: str = "") -> None:
        start(
            name, NODE_SCRIPT, "--dir", str(tmp_path / name),
            REDIS_ANNOUNCE_HOSTNAME=hostname, REDIS_PORT=str(ports[name]),
            REDIS_REPLICA_OF=replica_of, SENTINEL_ADDRESSES=sentinels,
        )  # fmt: skip

    def client(name: str) -> redis.Redis:
        return redis.Redis("127.0.0.1", ports[name], password="node-pw", socket_timeout=2)

    def master_named(sentinel: str = "s2") -> tuple[str, int] | None:
        answer = redis.Redis(
            "127.0.0.1",
            ports[sentinel],
            password="sentinel-pw",
            socket_timeout=2,
            decode_responses=True,
        )
        return answer.sentinel_get_master_addr_by_name("mymaster")

    try:
        node("master", "127.0.0.1")
        wait_for(lambda: client("master").ping(), timeout=20, what="the master")
        node("replica", "127.0.0.1", f"127.0.0.1 {ports['master']}")
        for sentinel in ["s1", "s2", "s3"]:
            start(
                sentinel, SENTINEL_SCRIPT,
                SENTINEL_ANNOUNCE_HOSTNAME="127.0.0.1", SENTINEL_PORT=str(ports[sentinel]),
                SENTINEL_DIR=str(tmp_path / sentinel), SENTINEL_MONITOR_HOST="127.0.0.1",
                SENTINEL_MONITOR_PORT=str(ports["master"]),
                SENTINEL_DOWN_AFTER_MS=str(DOWN_AFTER_MS), SENTINEL_FAILOVER_TIMEOUT_MS="5000",
            )  # fmt: skip

        def replicated() -> bool:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise StopWaiting(f"{name}: {(tmp_path / name / 'log').read_text()}")
            return client("replica").info("replication")["master_link_status"] == "up"

        wait_for(replicated, timeout=30, what="the replica to sync")
        assert master_named() == ("127.0.0.1", ports["master"])

        def known_to_every_sentinel() -> bool:
            # Sentinels learn of replicas from the master's INFO, every 10 s.
            for name in ["s1", "s2", "s3"]:
                sentinel = redis.Redis(
                    "127.0.0.1", ports[name], password="sentinel-pw", decode_responses=True
                )
                replicas = sentinel.sentinel_slaves("mymaster")
                if [(r["port"], r["flags"]) for r in replicas] != [(ports["replica"], "slave")]:
                    return False
            return True

        wait_for(known_to_every_sentinel, timeout=30, what="the Sentinels to know the replica")
        client("master").set("queued", "before the kill")
        wait_for(lambda: client("replica").get("queued"), timeout=10, what="replication")

        processes.pop("master").send_signal(signal.SIGKILL)
        wait_for(lambda: master_named() == ("127.0.0.1", ports["replica"]), timeout=30,
                 what="the Sentinels to promote the replica")  # fmt: skip
        assert client("replica").info("replication")["role"] == "master"
        assert client("replica").get("queued") == b"before the kill"

        # Every Sentinel has the news (the first one the script asks may be another).
        new_master = ("127.0.0.1", ports["replica"])
        wait_for(
            lambda: all(master_named(s) == new_master for s in ["s1", "s2", "s3"]),
            timeout=10,
            what="every Sentinel to name the new master",
        )
        node("master", "127.0.0.1", "")  # its own configuration says: master
        wait_for(
            lambda: client("master").info("replication")["master_link_status"] == "up",
            timeout=30,
            what="the old master to rejoin as a replica",
        )
        assert client("master").info("replication")["master_port"] == ports["replica"]
        assert "starting as its replica" in (tmp_path / "master" / "log").read_text()
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
