"""What the bench watches while the product runs, from outside it.

- `Tally`: the stand-in's accepted emails, counted as they arrive.
- `Sampler`: once a second, in a thread, each worker's memory and the run database's
  connections, per product process (which process holds each one, from /proc).
- `commits`: the run database's committed transactions (pg_stat_database).
- `worker_settings`: a worker's pool and concurrency, from its start-up banner.
"""

import contextlib
import os
import re
import threading
from collections import Counter
from pathlib import Path

import psycopg

from tests.bench.memory import status_mb
from tests.faults.stack import Postgres, Stack, children_of
from tests.support.fake_provider import FakePostmark
from tests.support.waiting import wait_for

BANNER = re.compile(r"\.> concurrency: (\d+) \((\w+)\)")
KEPT = ("To", "MessageStream", "Tag", "Metadata")


def rss_mb(pid: int) -> float:
    """Resident memory of a Celery worker: its main process and its pool processes."""
    total = 0.0
    for each in (pid, *children_of(pid)):
        try:
            if b"celery" in Path(f"/proc/{each}/cmdline").read_bytes():  # not the watchdog
                total += status_mb("VmRSS", each)
        except OSError:
            continue  # a pool process recycled meanwhile
    return total


class Tally:
    """The stand-in's accepted emails, per manager, counted as they come.

    Each look reads only what arrived since the last one (the stand-in's list only
    grows until its reset), so polling stays cheap at 100,000 emails, where reading
    `accepted` would copy the whole list under the stand-in's lock every time."""

    def __init__(self, provider: FakePostmark):
        self.provider = provider
        self.seen = 0
        self.arrivals: list[float] = []  # each accepted email's arrival (monotonic)
        self.managers: Counter = Counter()

    def update(self) -> int:
        """Count what arrived since the last call; return the accepted emails so far."""
        new = self.provider.received[self.seen :]  # a copy, taken atomically
        self.seen += len(new)
        for request in new:
            if request.message_id:
                self.arrivals.append(request.at)
                self.managers[request.json.get("Metadata", {}).get("manager_id")] += 1
            # The stand-in keeps every body (about 7 KB of report each): 100,000 of them
            # would cost this process a gigabyte. Kept: what a delivery event reads.
            request.json = {key: request.json[key] for key in KEPT if key in request.json}
        return len(self.arrivals)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.managers.values())


class Sampler:
    """Every `interval` seconds: each worker's RSS (peak kept), and how many connections
    the run database has, in all and per product process (peaks kept)."""

    def __init__(self, stack: Stack, database: str, interval: float = 1.0):
        self.stack = stack
        self.database = database
        self.interval = interval
        self.rss_peak_mb: dict[str, float] = {}
        self.connections_peak = 0
        self.connections_peak_by: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def result(self) -> dict:
        return {
            "samples": self.samples,
            "rss_peak_mb": {name: round(mb, 1) for name, mb in self.rss_peak_mb.items()},
            "connections_peak": self.connections_peak,
            "connections_peak_by_process": self.connections_peak_by,
            "error": repr(self._error) if self._error else "",
        }

    def _run(self) -> None:
        try:
            with psycopg.connect(self.stack.postgres.url("postgres"), autocommit=True) as db:
                while not self._stop.wait(self.interval):
                    self._sample(db)
        except Exception as exc:  # the figures stop; the row itself goes on
            self._error = exc

    def _sample(self, db: psycopg.Connection) -> None:
        processes = dict(self.stack.processes)
        for name, process in processes.items():
            if name.startswith("worker"):
                with contextlib.suppress(OSError):
                    mb = rss_mb(process.pid)
                    self.rss_peak_mb[name] = max(self.rss_peak_mb.get(name, 0.0), mb)
        ports = [
            port
            for (port,) in db.execute(
                "SELECT client_port FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'",
                (self.database,),
            )
        ]
        self.samples += 1
        self.connections_peak = max(self.connections_peak, len(ports))
        owners = Counter(connection_owners(ports, self.stack.postgres, processes))
        for name, count in owners.items():
            self.connections_peak_by[name] = max(self.connections_peak_by.get(name, 0), count)


def connection_owners(ports: list[int], postgres: Postgres, processes: dict) -> list[str]:
    """For each database connection (by its client port on loopback), the product
    process whose process tree holds it; "harness" for this one, "gone" when none does
    (closed between the query and the look at /proc)."""
    wanted = f"{postgres.port:04X}"
    inode_of_port: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if remote.endswith(f":{wanted}"):
                inode_of_port[int(local.rsplit(":", 1)[1], 16)] = fields[9]
    owner_of_inode: dict[str, str] = {}
    trees = {name: [process.pid, *descendants(process.pid)] for name, process in processes.items()}
    trees["harness"] = [os.getpid()]
    for name, pids in trees.items():
        for pid in pids:
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        link = os.readlink(fd)
                        if link.startswith("socket:["):
                            owner_of_inode[link[8:-1]] = name
    return [owner_of_inode.get(inode_of_port.get(port, ""), "gone") for port in ports]


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def commits(postgres: Postgres, database: str, timeout: float = 60) -> int:
    """The database's committed transactions so far, once no session is left on it:
    a backend adds its counts to pg_stat_database as it exits, before it leaves
    pg_stat_activity, so with none left the figure is complete."""

    def settled() -> int | None:
        with psycopg.connect(postgres.url("postgres"), autocommit=True) as db:
            (sessions,) = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchone()
            if sessions:
                return None
            (done,) = db.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
            ).fetchone()
            return done + 1  # truthy even at 0

    return wait_for(settled, timeout=timeout, interval=0.1, what=f"no session on {database}") - 1


def worker_settings(log_path: Path, timeout: float = 30) -> str:
    """'<concurrency> <pool>' from the banner Celery prints as it starts (".> concurrency:
    2 (prefork)"), whatever set them: the start script, the environment or a default."""

    def banner() -> str:
        found = BANNER.search(log_path.read_text(errors="replace"))
        return f"{found[1]} {found[2]}" if found else ""

    return wait_for(banner, timeout=timeout, interval=0.1, what=f"the banner in {log_path}")
