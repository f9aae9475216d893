"""A Redis master, one replica and three Sentinels on free loopback ports: real
redis-server and redis-sentinel processes in a temporary directory.

    with sentinel_cluster(tmp_path) as cluster:
        cluster.broker_url            # sentinel://:pw@127.0.0.1:p1;sentinel://...
        cluster.transport_options     # master_name, sentinel_kwargs (Sentinel's password)
        cluster.env()                 # CELERY_BROKER_URL and _SENTINEL_* for a subprocess
        cluster.failover()            # SENTINEL FAILOVER: the replica becomes the master
        cluster.kill_master()         # kill -9 the master; Sentinel promotes the replica
        cluster.restart(port)         # start a killed Redis again (Sentinel makes it a replica)
        cluster.stop_master_for_good()
        cluster.stop_sentinel(port)   # one Sentinel's host is gone (the others still answer)

Every step waits for the condition it promises (all three Sentinels name the new master,
the replica's link is up), never for a time. Passwords are on, as in production.
"""

import contextlib
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.processes import free_port
from tests.support.waiting import wait_for

MASTER_NAME = "mymaster"
# Milliseconds without an answer before a Sentinel calls a Redis down: short, so that a
# killed master is failed over within seconds (production: 10 s). Not 1 s, Sentinel's own
# ping period: all three then called a just-promoted master down 1.02 s after switching
# to it, and failed over again to the old master, restarted empty (docs/owed-work.md).
DOWN_AFTER_MS = 3000
FAILOVER_TIMEOUT_MS = 10000
TIMEOUT = 60


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; `make test` installs it")
    return found


@dataclass
class SentinelCluster:
    workdir: Path
    master_name: str = MASTER_NAME
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sentinel_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redis_ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    sentinel_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)

    # WHAT CLIENTS ARE GIVEN
    # --------------------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        # kombu takes the master's password from the first part.
        first, *rest = self.sentinel_ports
        parts = [f"sentinel://:{self.password}@127.0.0.1:{first}/0"]
        parts += [f"sentinel://127.0.0.1:{port}/0" for port in rest]
        return ";".join(parts)

    @property
    def transport_options(self) -> dict:
        return {
            "master_name": self.master_name,
            "sentinel_kwargs": {"password": self.sentinel_password},
        }

    def env(self) -> dict[str, str]:
        return {
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_BROKER_SENTINEL_MASTER": self.master_name,
            "CELERY_BROKER_SENTINEL_PASSWORD": self.sentinel_password,
        }

    def redis_at(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=5)

    def sentinel_at(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.sentinel_password, socket_timeout=5)

    # STARTING
    # --------------------------------------------------------------------------

    def _start(self, port: int, config: str, program: str) -> None:
        conf = self.workdir / f"{program}-{port}.conf"
        if not conf.exists():  # a restart keeps what Sentinel rewrote into it
            conf.write_text(config)
        self.processes[port] = subprocess.Popen(
            [binary(program), str(conf)],
            stdout=(self.workdir / f"{program}-{port}.log").open("a"),
            stderr=subprocess.STDOUT,
        )

    def _redis_config(self, port: int, replica_of: int | None) -> str:
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {self.workdir}",
            f"dbfilename dump-{port}.rdb",
            'save ""',
            "appendonly no",
            f"requirepass {self.password}",
            f"masterauth {self.password}",
        ]
        if replica_of:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        return "\n".join(lines) + "\n"

    def _sentinel_config(self, port: int) -> str:
        name, master = self.master_name, self.redis_ports[0]
        return (
            "\n".join(
                [
                    f"port {port}",
                    "bind 127.0.0.1",
                    f"dir {self.workdir}",
                    f"requirepass {self.sentinel_password}",
                    # Sentinels talk to each other with the same password.
                    f"sentinel sentinel-pass {self.sentinel_password}",
                    f"sentinel monitor {name} 127.0.0.1 {master} 2",
                    f"sentinel auth-pass {name} {self.password}",
                    f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {name} 1",
                ]
            )
            + "\n"
        )

    def start(self) -> None:
        master, replica = self.redis_ports
        self._start(master, self._redis_config(master, None), "redis-server")
        self._start(replica, self._redis_config(replica, master), "redis-server")
        for port in self.sentinel_ports:
            self._start(port, self._sentinel_config(port), "redis-sentinel")
        self.wait_until_settled(master)

    def restart(self, port: int) -> None:
        """Start a Redis that was killed again, with its last configuration (the
        Sentinels then make it a replica of the current master)."""
        self._start(port, self._redis_config(port, None), "redis-server")
        wait_for(lambda: self.redis_at(port).ping(), timeout=TIMEOUT, what=f"redis {port}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # WHAT THE SENTINELS SAY
    # --------------------------------------------------------------------------

    def master_port_seen_by(self, sentinel_port: int) -> int | None:
        with contextlib.closing(self.sentinel_at(sentinel_port)) as node:
            address = node.sentinel_get_master_addr_by_name(self.master_name)
        return int(address[1]) if address else None

    @property
    def master_port(self) -> int:
        """The master's port, as the first Sentinel that answers names it."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                if (found := self.master_port_seen_by(port)) is not None:
                    return found
        raise AssertionError("no Sentinel answered")

    @property
    def replica_port(self) -> int:
        return next(port for port in self.redis_ports if port != self.master_port)

    def _settled(self, master: int, replicas: int) -> bool:
        """Every Sentinel names `master`, sees it up with `replicas` replicas and the two
        other Sentinels, and the master has the replicas' links up."""
        for port in self.sentinel_ports:
            with contextlib.closing(self.sentinel_at(port)) as node:
                state = node.sentinel_master(self.master_name)
                if int(state["port"]) != master or not state["is_master"]:
                    return False
                if (
                    state["is_sdown"]
                    or state["is_odown"]
                    or "failover_in_progress" in state["flags"]
                ):
                    return False
                if state["num-slaves"] < replicas or state["num-other-sentinels"] < 2:
                    return False
                seen = node.sentinel_slaves(self.master_name)
                if sum(1 for r in seen if not (r["is_sdown"] or r["is_odown"])) < replicas:
                    return False
        with contextlib.closing(self.redis_at(master)) as client:
            info = client.info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return info["role"] == "master" and sum(s["state"] == "online" for s in online) >= replicas

    def wait_until_settled(self, master: int, replicas: int = 1) -> int:
        wait_for(
            lambda: self._settled(master, replicas),
            timeout=TIMEOUT,
            what=f"the Sentinels to settle on master {master} with {replicas} replica(s)",
        )
        return master

    # FAILING OVER
    # --------------------------------------------------------------------------

    def failover(self) -> int:
        """SENTINEL FAILOVER: the replica is promoted, the old master follows it. The new
        master's port, once everything has settled."""
        new = self.replica_port

        def asked() -> bool:
            with contextlib.closing(self.sentinel_at(self.sentinel_ports[0])) as node:
                try:
                    return bool(node.sentinel_failover(self.master_name))
                except redis.ResponseError as exc:
                    # NOGOODSLAVE: the Sentinel has not yet seen the replica fit to promote
                    # (its view refreshes every few seconds; a loaded machine is slower).
                    if "NOGOODSLAVE" in str(exc):
                        return False
                    raise

        wait_for(asked, timeout=TIMEOUT, what="a Sentinel to accept the failover")
        return self.wait_until_settled(new)

    def kill_master(self) -> tuple[int, int]:
        """kill -9 the master; (the killed port, the new master's port) once all three
        Sentinels name the replica (the killed Redis is not restarted: see restart)."""
        old = self.master_port
        new = self.replica_port
        self._kill(old)
        self.wait_until_settled(new, replicas=0)
        return old, new

    def stop_master_for_good(self) -> tuple[int, int]:
        """The master's host is gone for good: kill_master, and its Redis never returns."""
        return self.kill_master()

    def stop_sentinel(self, port: int) -> None:
        """kill -9 one Sentinel (wait_until_settled asks every Sentinel: not after this)."""
        self._kill(port)

    def _kill(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGKILL)
        self.processes[port].wait(timeout=10)


@contextlib.contextmanager
def sentinel_cluster(workdir: Path, master_name: str = MASTER_NAME) -> Iterator[SentinelCluster]:
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = SentinelCluster(workdir=workdir, master_name=master_name)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
