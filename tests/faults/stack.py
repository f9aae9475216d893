"""The real parts of a fault run, on loopback, free ports and one temporary directory.

- `Redis`: redis-server with AOF (appendfsync everysec) and noeviction, killable with
  SIGKILL and restartable on the same port and data directory.
- `Postgres`: a private PostgreSQL cluster (initdb/pg_ctl, run as the `postgres` user
  when we are root), restartable without touching the machine's own cluster; without
  fsync unless `durable` (the benchmark's default: production's durability).
- `ProductProcess`: one of the product's processes as production starts it (the
  ops/start scripts; runserver for the webhooks), in its own process group.
- `Stack`: all of them plus the stand-in Postmark, and cleanup of whatever it started.
"""

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import psycopg
import redis
import requests
from celery import Celery

from tests.support.fake_provider import FakePostmark, running_fake_postmark
from tests.support.processes import BACKEND_DIR, REPO_DIR, free_port
from tests.support.waiting import StopWaiting, wait_for

VENV_BIN = REPO_DIR / ".venv" / "bin"
START_DIR = REPO_DIR / "ops" / "start"
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)

BASE_DB = "faults_base"  # migrated, no data
RUN_DB = "faults_run"  # the scenario's database, copied from a seeded template

# Seconds Anymail waits for the stand-in; a reply later than this is a client timeout.
REQUESTS_TIMEOUT = 2

# The product's settings for every process: its defaults, except these shortened
# through their environment variables (CELERY_VISIBILITY_TIMEOUT stays at 2 h: recovery
# must not depend on it).
SHORTENED = {
    "ANYMAIL_REQUESTS_TIMEOUT": str(REQUESTS_TIMEOUT),
    "EMAIL_RETRY_BACKOFF": "1",
    "EMAIL_RETRY_BACKOFF_MAX": "5",
    "CELERY_TASK_SOFT_TIME_LIMIT": "15",
    "CELERY_TASK_TIME_LIMIT": "20",
    "RECONCILE_STALLED_AFTER": "10",
    "EMAIL_UNCONFIRMED_WAIT": "15",
    # The worker watchdog (ops/scripts/worker-watchdog.sh) pings every 5 s, not 60.
    "WORKER_WATCHDOG_INTERVAL": "5",
}
# Variables of the machine passed on to the product's processes; nothing else, so
# that the product's own defaults apply to everything not set here.
PASSED_ON = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TERM", "USER", "LOGNAME", "TZ")


def pg_bin_dir() -> Path:
    """PostgreSQL 15's binaries, or else the newest installed major version's."""
    candidates = [Path(d) for d in (os.environ.get("FAULTS_PG_BIN", ""), *PG_BIN_DIRS) if d]
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / "pg_ctl").is_file():
            return candidate
    raise RuntimeError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
        "ops/scripts/faults.sh installs the postgresql package"
    )


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid
    ]


def socket_inodes(host: str, port: int) -> set[str]:
    """Inodes of the local TCP sockets bound to (host, port), IPv4 loopback."""
    a, b, c, d = (int(part) for part in host.split("."))
    local = f"{d:02X}{c:02X}{b:02X}{a:02X}:{port:04X}"
    inodes = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local:
                inodes.add(fields[9])
    return inodes


def socket_owner(client: tuple[str, int], pids: list[int]) -> int | None:
    """Which of `pids` holds the TCP connection whose local end is `client`."""
    inodes = {f"socket:[{inode}]" for inode in socket_inodes(*client)}
    if not inodes:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
    return None


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({exc})"


class Redis:
    """redis-server with AOF on a fixed port and directory, for the whole run."""

    def __init__(self, workdir: Path, port: int):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; ops/scripts/faults.sh installs it")
        # Production's persistence (docs/owed-work.md): AOF with fsync every second, no eviction.
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
            ],
            stdout=self.log_path.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.ping, timeout=30, what="redis-server to answer")

    def ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StopWaiting(f"redis-server exited:\n{tail(self.log_path)}")
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait(timeout=10)

    def flush(self) -> None:
        if not self.running():
            self.start()
        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


class Postgres:
    """A private cluster: its own data directory and port, restartable at will."""

    def __init__(self, workdir: Path, port: int, *, durable: bool = False):
        self.dir = workdir
        self.data = workdir / "data"
        self.durable = durable
        self.port = port
        self.log_path = workdir / "postgres.log"
        self.tool_log_path = workdir.parent / "pg_ctl.log"
        self.bin = pg_bin_dir()
        self.as_postgres = os.geteuid() == 0
        self.started = False

    def _run(self, *argv: str, timeout: float = 120) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_postgres:
            # The server refuses to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: a server started by pg_ctl would hold a pipe open.
        with self.tool_log_path.open("a") as log:
            result = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({result.returncode}):\n"
                f"{tail(self.tool_log_path, 10)}\n{tail(self.log_path)}"
            )

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        sockets = self.dir / "sockets"
        sockets.mkdir(exist_ok=True)
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",  # loopback only, a throwaway cluster
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockets}'\n"
                "max_connections = 200\n"
            )
            if self.durable:
                # Production's settings (PostgreSQL's defaults), said outright: every
                # commit waits for its WAL flush, as the product's commits do there.
                conf.write("fsync = on\nfull_page_writes = on\nsynchronous_commit = on\n")
            else:
                # Nothing here must survive a crash of the machine; a restart is clean.
                conf.write("fsync = off\nfull_page_writes = off\n")

    def start(self) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_path), "-w")
        self.started = True

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server comes back."""
        self._run(
            "pg_ctl", "restart", "-D", str(self.data), "-l", str(self.log_path), "-m", "fast", "-w"
        )

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
            self.started = False

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)

    def copy(self, template: str, name: str) -> None:
        """A fresh database `name`, a copy of `template` (which nobody may be using)."""
        self.admin(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
        )


class ProductProcess:
    """One of the product's processes, in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        cwd: Path = REPO_DIR,
    ):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.cwd = cwd
        # Set when this harness stops or kills it: its supervisor then leaves it down.
        self.stopped = False
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[int]:
        return children_of(self.pid)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill9(self) -> None:
        """SIGKILL the process and its children at once (the whole process group)."""
        self.stopped = True
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float = 5) -> None:
        """SIGTERM (warm shutdown for Celery), then SIGKILL whatever is left of the group."""
        self.stopped = True
        if self.alive():
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)


class Stack:
    """Redis, PostgreSQL and the stand-in provider for the whole run; the product's
    processes for one scenario at a time. Leaves nothing behind when the block ends."""

    def __init__(
        self,
        root: Path,
        *,
        keep_alive: bool = False,
        shortened: bool = True,
        durable: bool = False,
    ):
        self.root = root
        self.keep_alive = keep_alive
        # False: the product's own defaults throughout (the benchmark), not SHORTENED's.
        self.shortened = SHORTENED if shortened else {}
        self.redis = Redis(root / "redis", free_port())
        self.postgres = Postgres(root / "postgres", free_port(), durable=durable)
        self.web_port = free_port()
        self.secret = f"faults:{secrets.token_urlsafe(18)}"
        self.provider: FakePostmark | None = None
        self.processes: dict[str, ProductProcess] = {}
        self.logs_dir = root
        self.tracking = True
        # Set by start_product: more environment for every product process it starts.
        self.extra_env: dict[str, str] = {}
        # For the email workers only, on top (the bench's --email-concurrency).
        self.email_env: dict[str, str] = {}
        self._email_workers = 0
        self._templates: dict[str, str] = {}
        self._restarts: dict[str, int] = {}
        self._stop_supervising = threading.Event()
        self._exit = contextlib.ExitStack()
        # A scenario's own broker (a Sentinel cluster's variables), over the stack's Redis.
        self.broker_env: dict[str, str] = {}
        # Not the current app: the shared tasks' .delay() in this process stays the product's.
        self._control = Celery("faults-control", broker=self.redis.url, set_as_current=False)

    # -- the parts that live for the whole run ---------------------------------------

    def __enter__(self) -> "Stack":
        try:
            self._exit.callback(self._cleanup)
            self.provider = self._exit.enter_context(
                running_fake_postmark(keep_alive=self.keep_alive)
            )
            self.redis.start()
            self.postgres.init()
            self.postgres.start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._exit.close()

    def _cleanup(self) -> None:
        self.stop_product()
        self._control.close()
        self.redis.stop()
        self.postgres.stop()

    @property
    def tracking_url(self) -> str:
        return f"http://{self.secret}@127.0.0.1:{self.web_port}/anymail/postmark/tracking/"

    def product_env(self, *, database: str = RUN_DB, tracking: bool = True) -> dict[str, str]:
        """The environment of every product process (and of this harness's Django)."""
        env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
        return {
            **env,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_ENV": "development",
            "DJANGO_READ_DOT_ENV_FILE": "False",
            # As production runs: DEBUG's query log is a development cost.
            "DJANGO_DEBUG": "False",
            "DATABASE_URL": self.postgres.url(database),
            "CELERY_BROKER_URL": self.redis.url,
            **self.broker_env,
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "POSTMARK_SERVER_TOKEN": "any",
            "POSTMARK_API_URL": self.provider.url,
            "EMAIL_TRACKING_ENABLED": str(tracking),
            "ANYMAIL_WEBHOOK_SECRET": self.secret,
            "LOG_LEVEL": "INFO",
            **self.shortened,
        }

    def python(
        self, args: list[str], env: dict[str, str], log_name: str, timeout: float = 600
    ) -> None:
        log_path = self.root / log_name
        with log_path.open("w") as log:
            result = subprocess.run(
                [str(VENV_BIN / "python"), *args],
                cwd=REPO_DIR,
                env={**env, "PYTHONPATH": f"{BACKEND_DIR}{os.pathsep}{REPO_DIR}"},
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{tail(log_path, 60)}")

    def use_broker(self, env: dict[str, str] | None, transport_options: dict | None = None):
        """The broker of the product's next processes and of this harness's pings: a
        Sentinel cluster's (its variables and Celery transport options), or, with None,
        the stack's own Redis again."""
        self.broker_env = dict(env or {})
        url = self.broker_env.get("CELERY_BROKER_URL", self.redis.url)
        # Celery prefers CELERY_BROKER_URL in the environment to any app's own broker, and
        # this process has the stack's there (product.setup): the pings must follow.
        os.environ["CELERY_BROKER_URL"] = url
        self._control.close()
        self._control = Celery("faults-control", broker=url, set_as_current=False)
        if transport_options:
            self._control.conf.broker_transport_options = transport_options

    def call_task(self, name: str, args: list, log_name: str) -> None:
        """Queue a task as an operator's shell would (`manage.py shell`), through the
        product's own settings and broker: this harness's copy of the product's Celery
        app keeps the stack's own Redis for the whole run."""
        env = {**self.product_env(tracking=self.tracking), **self.extra_env}
        module, task = name.rsplit(".", 1)
        code = f"from {module} import {task}; {task}.delay(*{args!r})"
        manage = str(BACKEND_DIR / "manage.py")
        self.python([manage, "shell", "--no-imports", "-c", code], env, log_name, timeout=120)

    def migrate(self) -> None:
        self.postgres.admin(f'CREATE DATABASE "{BASE_DB}"')
        self.python(
            [str(BACKEND_DIR / "manage.py"), "migrate", "--no-input"],
            self.product_env(database=BASE_DB),
            "migrate.log",
        )

    def template_for(self, managers: int) -> str:
        """A database with `managers` managers seeded (made once per size)."""
        return self.template(f"faults_seed_{managers}", ["-m", "tests.faults.seed", str(managers)])

    def template(self, name: str, seed: list[str], timeout: float = 600) -> str:
        """Database `name`: the migrated base with `python *seed` run on it (made once)."""
        if name not in self._templates:
            self.postgres.copy(BASE_DB, name)
            env = self.product_env(database=name)
            self.python(seed, env, f"seed-{name}.log", timeout=timeout)
            # Planner statistics, as a database that grew to this size has them: without,
            # PostgreSQL plans the report's queries for tables a hundredth the size (a full
            # scan of the memberships per report at 100,000 managers).
            with psycopg.connect(self.postgres.url(name), autocommit=True) as connection:
                connection.execute("ANALYZE")
            self._templates[name] = name
        return self._templates[name]

    # -- the product's processes, one scenario at a time -------------------------------

    def start_product(
        self,
        logs_dir: Path,
        *,
        tracking: bool,
        extra_env: dict[str, str] | None = None,
        workers: bool = True,
    ) -> None:
        """Web, beat and (unless `workers` is off: the caller starts its own) both
        workers; `extra_env` goes to every one of them, restarts included."""
        self.logs_dir = logs_dir
        self.tracking = tracking
        self.extra_env = dict(extra_env or {})
        self.provider.tracking_url = self.tracking_url if tracking else ""
        manage = [str(VENV_BIN / "python"), str(BACKEND_DIR / "manage.py")]
        self.start_process(
            "web", [*manage, "runserver", "--noreload", f"127.0.0.1:{self.web_port}"]
        )
        if workers:
            self.start_process("worker-reports", [str(START_DIR / "worker"), "reports"])
            self.start_email_worker()
        self.start_process("beat", [str(START_DIR / "beat")])
        self._stop_supervising = threading.Event()
        threading.Thread(
            target=self._supervise, args=(self._stop_supervising,), daemon=True
        ).start()

    def _supervise(self, stop: threading.Event) -> None:
        """Restart a product process that exited by itself, as compose's `restart:
        unless-stopped` does (the worker watchdog stops a worker that stopped consuming)."""
        while not stop.wait(0.5):
            for name, process in list(self.processes.items()):
                if not process.alive() and not process.stopped:
                    self._restarts[name] = self._restarts.get(name, 0) + 1
                    log_name = f"{process.log_path.stem}-restart{self._restarts[name]}"
                    self.start_process(name, process.argv, log_name, cwd=process.cwd)

    def start_process(
        self,
        name: str,
        argv: list[str],
        log_name: str | None = None,
        extra_env: dict[str, str] | None = None,
        cwd: Path = REPO_DIR,
    ) -> ProductProcess:
        env = {**self.product_env(tracking=self.tracking), **self.extra_env, **(extra_env or {})}
        log_path = self.logs_dir / f"{log_name or name}.log"
        self.processes[name] = ProductProcess(name, argv, env, log_path, cwd)
        return self.processes[name]

    @property
    def email_worker(self) -> ProductProcess:
        return self.processes["worker-email"]

    def start_email_worker(self, hostname: str = "") -> ProductProcess:
        """`ops/start/worker email`; each start logs to its own file.

        With `hostname`, another replica beside the first: its own UTS namespace with
        that host name, as its own container has, so that its node is email@<hostname>
        (the script names nodes after the host) and its watchdog pings that node. Root
        only (unshare)."""
        argv = [str(START_DIR / "worker"), "email"]
        if hostname:
            shell = 'hostname "$0" && exec "$@"'
            argv = ["unshare", "--uts", "--", "sh", "-c", shell, hostname, *argv]
            return self.start_process(f"worker-email@{hostname}", argv, extra_env=self.email_env)
        self._email_workers += 1
        suffix = "" if self._email_workers == 1 else f"-{self._email_workers}"
        return self.start_process(
            "worker-email", argv, f"worker-email{suffix}", extra_env=self.email_env
        )

    def wait_ready(self, queues: tuple[str, ...] = ("reports", "email"), timeout=90) -> None:
        """The web server answers /healthz and a worker for each queue answers ping."""

        def ready() -> bool:
            for process in self.processes.values():
                if not process.alive():
                    raise StopWaiting(f"{process.name} exited:\n{process.tail()}")
            if "web" in self.processes:
                url = f"http://127.0.0.1:{self.web_port}/healthz"
                requests.get(url, timeout=2).raise_for_status()
            replies = self._control.control.ping(timeout=1.0)
            nodes = {name.split("@", 1)[0] for reply in replies for name in reply}
            return set(queues) <= nodes

        wait_for(ready, timeout=timeout, interval=0.2, what=f"web and workers for {queues}")

    def stop_product(self) -> None:
        self._stop_supervising.set()
        for process in self.processes.values():
            process.stop()
        self.processes.clear()
        self.extra_env = {}
        self._email_workers = 0

    def log_tails(self, lines: int = 30) -> str:
        parts = [
            f"--- {path.relative_to(self.logs_dir)}\n{tail(path, lines)}"
            for path in sorted(self.logs_dir.rglob("*.log"))
        ]
        parts.append(f"--- redis.log\n{tail(self.redis.log_path, 10)}")
        parts.append(f"--- postgres.log\n{tail(self.postgres.log_path, 10)}")
        return "\n".join(parts)
