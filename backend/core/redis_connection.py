"""The broker's Redis, reached one way by every part that is not Celery itself (the rate
limiter, /readyz, /metrics, wait_for_services): the broker URL and Celery's broker
transport options in, a redis-py client for the current master out.

    redis://, rediss://, unix://   redis-py's own URL parsing, as before
    sentinel://h1:26379;sentinel://h2:26379[/db]   kombu's form: the Sentinels to ask;
        the master set is the transport option `master_name`, Sentinel's own password
        the option `sentinel_kwargs` (as kombu and Flower read them); the Redis
        password and database come from the first URL, as kombu takes them.

For Sentinel the client is redis-py's public `Sentinel(...).master_for(...)`: it asks the
Sentinels for the master on every new connection, and a write refused by a demoted master
(ReadOnlyError) closes the connection, so the same client object follows a failover.

Plain Python, no Django: ops/docker/wait_for_services.py and settings.py use it too.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import redis
import redis.sentinel

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
SENTINEL_SCHEME = "sentinel"
SENTINEL_PORT = 26379
# Redis's own default for `sentinel monitor`; CELERY_BROKER_SENTINEL_MASTER changes it.
DEFAULT_MASTER_NAME = "mymaster"


def scheme_of(url: str) -> str:
    return urlsplit(url.split(";", 1)[0].strip()).scheme


def is_redis(url: str) -> bool:
    """The broker is a Redis, directly or through Sentinel."""
    return scheme_of(url) in REDIS_SCHEMES | {SENTINEL_SCHEME}


def is_sentinel(url: str) -> bool:
    return scheme_of(url) == SENTINEL_SCHEME


@dataclass(frozen=True)
class SentinelTarget:
    """What a sentinel:// broker URL and the transport options say."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0
    sentinel_kwargs: Mapping = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """Hosts and the master set, never a password."""
        hosts = ", ".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"Redis master {self.master_name!r} through Sentinel at {hosts}"


def _parts(url: str):
    return [part.strip() for part in url.split(";") if part.strip()]


def sentinel_url_problems(url: str) -> list[str]:
    """What is wrong with a sentinel:// broker URL (kombu would misread or ignore it)."""
    problems = []
    parsed = [urlsplit(part) for part in _parts(url)]
    if not parsed:
        return ["names no Sentinel"]
    if any(part.scheme != SENTINEL_SCHEME for part in parsed):
        problems.append("mixes sentinel:// with other schemes: every part must be sentinel://")
    if any(not part.hostname for part in parsed):
        problems.append("has a part without a host")
    # kombu reads the password and the database from the first URL only: another one on
    # a later part would be silently ignored.
    credentials = {(part.username, part.password) for part in parsed if part.password}
    if len(credentials) > 1 or (credentials and not parsed[0].password):
        problems.append("gives its password on a later part or several: give it on the first")
    if len({part.path.strip("/") for part in parsed if part.path.strip("/")}) > 1:
        problems.append("gives different databases on its parts: use the same")
    db = parsed[0].path.strip("/")
    if db and not db.isdigit():
        problems.append(f"has database {db!r}: a number is expected")
    return problems


def sentinel_target(url: str, options: Mapping) -> SentinelTarget:
    """A sentinel:// URL and the transport options as one target. ValueError if unusable."""
    if problems := sentinel_url_problems(url):
        raise ValueError(f"the sentinel broker URL {'; '.join(problems)}")
    parsed = [urlsplit(part) for part in _parts(url)]
    first = parsed[0]
    return SentinelTarget(
        sentinels=tuple((part.hostname, part.port or SENTINEL_PORT) for part in parsed),
        master_name=options.get("master_name") or DEFAULT_MASTER_NAME,
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        db=int(first.path.strip("/") or 0),
        sentinel_kwargs=dict(options.get("sentinel_kwargs") or {}),
    )


def describe(url: str, options: Mapping) -> str:
    """Where the broker's Redis is, for messages: hosts, never passwords."""
    if is_sentinel(url):
        return sentinel_target(url, options).describe()
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"Redis at {parts.path}"
    return f"Redis at {parts.hostname}:{parts.port or 6379}"


def _timeouts(timeout: float) -> dict:
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout}


def sentinel_for(target: SentinelTarget, *, timeout: float) -> redis.sentinel.Sentinel:
    # Sentinel's own password only in sentinel_kwargs: the master's goes to the master.
    sentinel_kwargs = {**_timeouts(timeout), **target.sentinel_kwargs}
    return redis.sentinel.Sentinel(
        list(target.sentinels),
        sentinel_kwargs=sentinel_kwargs,
        username=target.username,
        password=target.password,
        db=target.db,
        **_timeouts(timeout),
    )


def client_for(url: str, options: Mapping, *, timeout: float, **kwargs) -> redis.Redis:
    """A client for the broker's current master. `kwargs` go to every Redis connection
    (e.g. health_check_interval)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **_timeouts(timeout), **kwargs)
    target = sentinel_target(url, options)
    return sentinel_for(target, timeout=timeout).master_for(target.master_name, **kwargs)


def close(client: redis.Redis) -> None:
    """Close a client from client_for, and the Sentinel connections behind it (a probe
    that makes one per request must not leave sockets to the Sentinels)."""
    client.close()
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    for node in getattr(manager, "sentinels", ()):
        node.close()


@dataclass(frozen=True)
class MasterState:
    """What Sentinel knows of the master: where it is, how long it has held the role in
    this Sentinel's view, and the configuration epoch (it grows by one each failover)."""

    host: str
    port: int
    role_reported_ms: int
    config_epoch: int
    sentinel: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def master_state(url: str, options: Mapping, *, timeout: float) -> MasterState:
    """One `SENTINEL MASTER <name>` round trip to the first Sentinel that answers with a
    master it does not consider down. redis.ConnectionError if none does."""
    target = sentinel_target(url, options)
    manager = sentinel_for(target, timeout=timeout)
    errors = []
    try:
        for node, (host, port) in zip(manager.sentinels, target.sentinels, strict=True):
            try:
                state = node.sentinel_master(target.master_name)
            except redis.RedisError as exc:
                errors.append(f"{host}:{port}: {type(exc).__name__}: {exc}")
                continue
            if manager.check_master_state(state, target.master_name):
                return MasterState(
                    host=state["ip"],
                    port=int(state["port"]),
                    role_reported_ms=int(state["role-reported-time"]),
                    config_epoch=int(state["config-epoch"]),
                    sentinel=f"{host}:{port}",
                )
            errors.append(f"{host}:{port}: sees master {target.master_name!r} down")
    finally:
        for node in manager.sentinels:
            node.close()
    raise redis.ConnectionError(f"no Sentinel named a master: {'; '.join(errors)}")


def client_at(url: str, options: Mapping, host: str, port: int, *, timeout: float):
    """A plain client for one Redis of a sentinel:// broker (the master master_state
    named), with the master's password and database: no second Sentinel round trip."""
    target = sentinel_target(url, options)
    return redis.Redis(
        host=host,
        port=port,
        db=target.db,
        username=target.username,
        password=target.password,
        **_timeouts(timeout),
    )
