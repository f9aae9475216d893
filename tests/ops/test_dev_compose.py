"""The development stack (docker-compose.yml and the image it builds), checked without a
Docker engine: who the containers run as, what they read, when they count as healthy, and
what the mounted checkout must give them (compiled catalogs, LF line endings).

Compose's own binary resolves the file (tests/support/compose.py says how); where a
developer's `.env` matters, in a copy of the checkout with one beside it, where
`docker compose up` would read it.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.support.compose import (
    dockerfile_stages,
    env_file_entries,
    image_services,
    resolved,
    seconds,
)
from tests.support.fresh_python import clean_env, printed_json
from tests.support.processes import REPO_DIR as REPO

DEV_COMPOSE = REPO / "docker-compose.yml"
DEV_EXAMPLE = REPO / ".env.example"
RU_PO = Path("backend/locale/ru/LC_MESSAGES/django.po")
RU_MO = RU_PO.with_suffix(".mo")


@pytest.fixture
def checkout(tmp_path) -> Path:
    """What docker-compose.yml mounts at /app and runs, copied: the compose file, backend/
    and ops/, with no compiled catalog (as git checks it out) and an empty var/."""
    for name in ("backend", "ops"):
        shutil.copytree(
            REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(DEV_COMPOSE, tmp_path)
    (tmp_path / "var").mkdir()
    return tmp_path


def runtime_stage() -> list[str]:
    """The Dockerfile's last stage: the image that runs."""
    return dockerfile_stages()[-1]


def resolve_dev(checkout: Path, **shell: str) -> dict:
    """docker-compose.yml as `docker compose` resolves it in `checkout` (reading the .env
    there), with `shell` as the variables of the developer's shell."""
    result = subprocess.run(
        [str(checkout / "ops" / "scripts" / "compose-config.sh"), "dev", "--format", "json"],
        cwd=checkout,
        env=clean_env(PYTHON=sys.executable, **shell),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def in_container(model: dict, service: str, **changes: str) -> dict[str, str]:
    """The environment `service`'s process gets: compose's, and nothing from the shell that
    runs this test (DJANGO_READ_DOT_ENV_FILE included: only compose may set it)."""
    env = clean_env(DJANGO_READ_DOT_ENV_FILE=None)
    env.update(
        {k: v for k, v in model["services"][service]["environment"].items() if v is not None}
    )
    env.update(changes)
    return env


# THE APP USER: THE CHECKOUT'S OWNER
# ------------------------------------------------------------------------------


def test_the_dev_image_is_built_for_the_user_compose_is_given(checkout):
    """APP_UID and APP_GID, from the shell or from .env (compose reads it for this), become
    the app user's ids; unset or empty (as .env.example has them): 1000."""

    def ids(model: dict) -> set[tuple[str, str]]:
        return {
            (service["build"]["args"]["APP_UID"], service["build"]["args"]["APP_GID"])
            for service in image_services(model).values()
        }

    assert ids(resolve_dev(checkout)) == {("1000", "1000")}
    assert ids(resolve_dev(checkout, APP_UID="1234", APP_GID="2345")) == {("1234", "2345")}

    shutil.copy(DEV_EXAMPLE, checkout / ".env")
    copied_example = resolve_dev(checkout)
    assert ids(copied_example) == {("1000", "1000")}
    assert copied_example["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == (
        "flower:commission-demo"
    )

    (checkout / ".env").write_text("APP_UID=1234\nAPP_GID=2345\n")
    assert ids(resolve_dev(checkout)) == {("1234", "2345")}


def test_the_image_makes_its_app_user_from_the_build_arguments():
    runtime = runtime_stage()
    assert "ARG APP_UID=1000" in runtime
    assert "ARG APP_GID=1000" in runtime
    creates = next(line for line in runtime if "useradd" in line)
    assert '--gid "$APP_GID" app' in creates
    assert '--uid "$APP_UID" --gid app' in creates
    assert "USER app" in runtime


def test_every_variable_compose_takes_from_env_is_in_env_example():
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", DEV_COMPOSE.read_text()))
    assert interpolated >= {"APP_UID", "APP_GID", "FLOWER_BASIC_AUTH"}
    missing = interpolated - set(env_file_entries(DEV_EXAMPLE))
    assert not missing, f"docker-compose.yml reads {sorted(missing)}: not in .env.example"


@pytest.mark.parametrize(("uid", "refused"), [("0", True), ("1000", False), ("501", False)])
def test_the_image_refuses_to_make_root_its_app_user(uid, refused):
    """The guard that opens the RUN creating the user, run on its own (the rest of that
    RUN changes the system: it is never run here)."""
    creates = next(line for line in runtime_stage() if "useradd" in line)
    guard = creates.removeprefix("RUN ").split(" && ")[0]
    assert not re.search(r"\b(useradd|groupadd|mkdir|chown)\b", guard), guard

    result = subprocess.run(
        ["sh", "-c", guard], env=clean_env(APP_UID=uid), capture_output=True, text=True
    )
    assert (result.returncode != 0) is refused
    assert ("never runs as root" in result.stderr) is refused


# THE CONTAINERS NEVER READ THE CHECKOUT'S .env OR var/run.env
# ------------------------------------------------------------------------------

# A developer's .env, written for `make run` on the host, and what `make run` left in
# var/run.env (which wins over .env). Compose itself takes FLOWER_BASIC_AUTH from .env: it
# names it in docker-compose.yml.
DOT_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_ALLOWED_HOSTS": "localhost",
    "FLOWER_PORT": "5556",
    "TIME_ZONE": "Pacific/Kiritimati",
    "FLOWER_BASIC_AUTH": "me:my-own-flower-password",
}
RUN_ENV = {
    "CELERY_BROKER_URL": "redis://127.0.0.1:6390/0",
    "LANGUAGE_CODE": "ru",
    "FLOWER_URL_PREFIX": "from-make-run",
}

WEB_SETTINGS = """
import json, sys
from django.conf import settings
from django.http.request import validate_host
print(json.dumps({
    "repo": str(settings.REPO_DIR),
    "health_check_host_allowed": validate_host(sys.argv[1], settings.ALLOWED_HOSTS),
    "TIME_ZONE": settings.TIME_ZONE,
    "LANGUAGE_CODE": settings.LANGUAGE_CODE,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
}))
"""

FLOWER_OPTIONS = """
import json, runpy, sys
options = runpy.run_path(sys.argv[1])
print(json.dumps({name: options[name] for name in ("port", "address", "url_prefix", "basic_auth")}))
"""


@pytest.fixture
def hostile_checkout(checkout) -> Path:
    (checkout / ".env").write_text("".join(f"{k}={v}\n" for k, v in DOT_ENV.items()))
    (checkout / "var" / "run.env").write_text("".join(f"{k}={v}\n" for k, v in RUN_ENV.items()))
    return checkout


def url_of_health_check(service: dict):
    return urlsplit(next(word for word in service["healthcheck"]["test"] if "://" in word))


def test_web_in_development_never_reads_the_checkouts_env_files(hostile_checkout):
    model = resolve_dev(hostile_checkout)
    web = model["services"]["web"]
    health_check = url_of_health_check(web)
    assert health_check.port == 8000

    def settings_seen(env: dict[str, str]) -> dict:
        # The container's /app/backend (start scripts run there) is the copy's backend/.
        return printed_json(
            WEB_SETTINGS, health_check.hostname, env=env, cwd=hostile_checkout / "backend"
        )

    seen = settings_seen(in_container(model, "web"))
    assert seen["repo"] == str(hostile_checkout)
    assert seen["health_check_host_allowed"], "web's health check would get 400"
    assert seen["TIME_ZONE"] == "UTC"
    assert seen["LANGUAGE_CODE"] == "en"
    assert seen["CELERY_BROKER_URL"] == "redis://redis:6379/0"

    # Without the variable compose sets, the same load sees the files: the check above can
    # fail, and this is the failure the development stack had.
    env = in_container(model, "web")
    del env["DJANGO_READ_DOT_ENV_FILE"]
    leaked = settings_seen(env)
    assert not leaked["health_check_host_allowed"]
    assert (leaked["TIME_ZONE"], leaked["LANGUAGE_CODE"]) == ("Pacific/Kiritimati", "ru")


def test_flower_in_development_listens_where_its_port_and_health_check_look(
    hostile_checkout, tmp_path
):
    model = resolve_dev(hostile_checkout)
    flower = model["services"]["flower"]
    (published,) = flower["ports"]
    health_check = url_of_health_check(flower)
    assert health_check.port == published["target"]
    state = str(tmp_path / "flower" / "state")

    def options(env: dict[str, str]) -> dict:
        config = hostile_checkout / "ops" / "flower" / "flowerconfig.py"
        return printed_json(FLOWER_OPTIONS, str(config), env=env, cwd=hostile_checkout / "backend")

    seen = options(in_container(model, "flower", FLOWER_STATE_FILE=state))
    assert seen["port"] == published["target"]
    assert seen["address"] == flower["environment"]["FLOWER_ADDRESS"]
    assert seen["url_prefix"] == ""
    # What compose took from .env, because docker-compose.yml asks for it by name.
    assert seen["basic_auth"] == [DOT_ENV["FLOWER_BASIC_AUTH"]]

    env = in_container(model, "flower", FLOWER_STATE_FILE=state)
    del env["DJANGO_READ_DOT_ENV_FILE"]
    leaked = options(env)
    assert (leaked["port"], leaked["url_prefix"]) == (5556, "from-make-run")


def test_every_service_of_the_image_gets_the_same_environment_rule(checkout):
    model = resolve_dev(checkout)
    for name, service in image_services(model).items():
        assert service["environment"]["DJANGO_READ_DOT_ENV_FILE"] == "False", name


# HEALTH CHECKS AND REDIS
# ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_model() -> dict:
    return resolved("dev")


def test_every_health_check_allows_for_a_slow_first_start(dev_model):
    """Redis replaying a large append-only file answers LOADING, PostgreSQL's first start
    runs initdb: failures in start_period do not count, a success counts at once."""
    checked = {
        name: service["healthcheck"]
        for name, service in dev_model["services"].items()
        if service.get("healthcheck")
    }
    assert set(checked) == set(dev_model["services"])
    for name, healthcheck in checked.items():
        assert seconds(healthcheck.get("start_period", "0s")) > 0, f"{name}: no start_period"


def test_postgres_is_healthy_once_it_takes_network_connections(dev_model):
    """initdb's temporary server listens on its socket only: a check over the socket
    passes before the server the others reach has started."""
    test = dev_model["services"]["postgres"]["healthcheck"]["test"]
    (check,) = [word for word in test if "pg_isready" in word]
    assert re.search(r"\s-h\s+127\.0\.0\.1\b", check), check


def test_redis_refuses_new_tasks_at_a_memory_limit_instead_of_dropping_any(dev_model):
    command = dev_model["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert re.fullmatch(r"[1-9]\d*(mb|gb)", command[command.index("--maxmemory") + 1])


# THE CATALOGS IN A CHECKOUT THE APP USER CANNOT WRITE
# ------------------------------------------------------------------------------

# The image's app user (uid 1000, not the checkout's owner) with one capability: to read
# anything, so it can run this suite's interpreter wherever it is installed (/root...).
# Writing stays what uid 1000 may do.
AS_APP_USER = [
    "setpriv",
    "--reuid=1000",
    "--regid=1000",
    "--clear-groups",
    "--inh-caps=-all,+dac_read_search",
    "--ambient-caps=-all,+dac_read_search",
]


def compile_catalogs(checkout: Path, *args: str, as_app_user: bool = False):
    command = [str(checkout / "ops" / "scripts" / "compile-catalogs.sh"), *args]
    if as_app_user and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: no other user to run as")
        command = AS_APP_USER + command
    # The copy has no .venv: pybabel comes from PATH, as in the image.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(command, env=clean_env(PATH=path), capture_output=True, text=True)


def set_writable(checkout: Path, writable: bool) -> None:
    """backend/locale writable by its owner, or by no one but root (the app user above is
    uid 1000 when this runs as root, and the owner itself otherwise)."""
    for path in [checkout / "backend" / "locale", *(checkout / "backend" / "locale").rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


def a_translation(checkout: Path):
    """A message with a context of its own: no catalog of Django's can translate it."""
    with (checkout / RU_PO).open("rb") as po:
        catalog = read_po(po)
    return next(m for m in catalog if m.context and m.id and isinstance(m.id, str) and m.string)


def russian(checkout: Path, context: str, text: str) -> str:
    code = (
        "import json, sys, django; django.setup()\n"
        "from django.utils import translation\n"
        "translation.activate('ru')\n"
        "print(json.dumps(translation.pgettext(sys.argv[1], sys.argv[2])))\n"
    )
    return printed_json(code, context, text, cwd=checkout / "backend")


def test_catalogs_are_compiled_and_then_left_alone_until_the_po_file_changes(checkout):
    message = a_translation(checkout)
    mo = checkout / RU_MO
    first = compile_catalogs(checkout)
    assert first.returncode == 0, first.stderr
    assert russian(checkout, message.context, message.id) == message.string

    # What decides is the content: a .po file newer than its .mo (a checkout, a clock
    # ahead across a bind mount) that compiles to the same bytes leaves the .mo alone.
    before = mo.stat()
    os.utime(checkout / RU_PO, ns=(before.st_mtime_ns + 10**12, before.st_mtime_ns + 10**12))
    again = compile_catalogs(checkout)
    assert again.returncode == 0, again.stderr
    assert (mo.stat().st_mtime_ns, mo.stat().st_ino) == (before.st_mtime_ns, before.st_ino)

    with (checkout / RU_PO).open("a") as po:
        po.write('\nmsgctxt "test"\nmsgid "Only in this test"\nmsgstr "Только в этом тесте"\n')
    changed = compile_catalogs(checkout)
    assert changed.returncode == 0, changed.stderr
    with mo.open("rb") as compiled:
        assert read_mo(compiled).get("Only in this test", context="test").string == (
            "Только в этом тесте"
        )


def test_a_checkout_the_app_user_cannot_write_costs_the_translations_not_the_stack(checkout):
    """ops/start/web (--best-effort) warns and goes on: Russian shows in English, as the
    warning says. The image's build and bootstrap (strict) fail instead."""
    message = a_translation(checkout)
    set_writable(checkout, False)

    warned = compile_catalogs(checkout, "--best-effort", as_app_user=True)
    assert warned.returncode == 0, warned.stderr
    assert f"WARNING: cannot write {RU_MO} as uid " in warned.stderr
    assert "reports and pages in 'ru' show in English" in warned.stderr
    assert "APP_UID=$(id -u) APP_GID=$(id -g)" in warned.stderr
    assert not (checkout / RU_MO).exists()
    assert russian(checkout, message.context, message.id) == message.id

    strict = compile_catalogs(checkout, as_app_user=True)
    assert strict.returncode == 1
    assert f"cannot write {RU_MO}" in strict.stderr
    assert "WARNING" not in strict.stderr

    # Compiled by the checkout's owner (on the host), the catalog is current: the app user
    # has nothing to write, and even the strict run passes without a word.
    set_writable(checkout, True)
    assert compile_catalogs(checkout).returncode == 0
    set_writable(checkout, False)
    current = compile_catalogs(checkout, as_app_user=True)
    assert (current.returncode, current.stderr) == (0, "")
    assert russian(checkout, message.context, message.id) == message.string

    # A .po changed since: the old translations stay, and the warning says so.
    set_writable(checkout, True)
    with (checkout / RU_PO).open("a") as po:
        po.write('\nmsgctxt "test"\nmsgid "Only in this test"\nmsgstr "Только в этом тесте"\n')
    set_writable(checkout, False)
    stale = compile_catalogs(checkout, "--best-effort", as_app_user=True)
    assert stale.returncode == 0, stale.stderr
    assert "show the old translations, and English for text new in" in stale.stderr
    assert russian(checkout, "test", "Only in this test") == "Only in this test"


def test_only_the_development_web_server_compiles_the_catalogs_on_a_best_effort():
    def calls(text: str) -> list[str]:
        return [
            line.strip()
            for line in text.replace("\\\n", " ").splitlines()
            if "compile-catalogs.sh" in line and not line.lstrip().startswith("#")
        ]

    (image,) = calls("\n".join(runtime_stage()))
    assert image.startswith("RUN ") and "--best-effort" not in image
    (bootstrap,) = calls((REPO / "ops" / "scripts" / "bootstrap.sh").read_text())
    assert "--best-effort" not in bootstrap
    web = (REPO / "ops" / "start" / "web").read_text()
    development = web[web.index("\nfi\n") :]  # after the production branch
    (dev_web,) = calls(development)
    assert dev_web.endswith("compile-catalogs.sh --best-effort")


def test_the_catalog_script_refuses_an_unknown_option(checkout):
    result = compile_catalogs(checkout, "--best-efort")
    assert result.returncode == 64
    assert "usage:" in result.stderr
    assert not (checkout / RU_MO).exists()


# LINE ENDINGS: LF IN EVERY CHECKOUT
# ------------------------------------------------------------------------------


def git_entries(command: str, *args: str) -> list[str]:
    """`git COMMAND -z ARGS`, split at the NULs."""
    try:
        done = subprocess.run(
            ["git", command, "-z", *args], cwd=REPO, capture_output=True, text=True, check=True
        )
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [entry for entry in done.stdout.split("\0") if entry]


def line_endings() -> dict[str, tuple[str, str]]:
    """path -> (the index's line endings, the attributes): `git ls-files --eol`."""
    found = {}
    for entry in git_entries("ls-files", "--eol"):
        info, path = entry.split("\t", 1)
        index, _working_tree, attributes = info.split(maxsplit=2)
        found[path] = (index, attributes.strip())
    return found


def test_executable_files_check_out_with_lf_everywhere():
    """A CRLF script fails in Linux ("bad interpreter"), the image's and the mounted
    checkout's alike: each one is text with eol=lf whatever the platform's settings, is
    committed with LF, and has no CR here."""
    executables = [
        entry.split("\t", 1)[1]
        for entry in git_entries("ls-files", "--stage")
        if entry.startswith("100755 ")
    ]
    assert {"ops/docker/entrypoint", "ops/start/web", ".ci/run"} <= set(executables)
    # -z: path, attribute, value, path, attribute, value...
    attributes = git_entries("check-attr", "text", "eol", "--", *executables)
    values = {
        (attributes[i], attributes[i + 1]): attributes[i + 2] for i in range(0, len(attributes), 3)
    }
    endings = line_endings()
    for path in executables:
        assert values[(path, "text")] == "set", f"{path}: git guesses whether it is text"
        assert values[(path, "eol")] == "lf", f"{path}: no eol=lf"
        assert endings[path][0] == "i/lf", f"{path} is committed with {endings[path][0]}"
        assert b"\r" not in (REPO / path).read_bytes(), f"{path} has a CR"


def test_no_text_file_is_committed_with_crlf():
    """Only files kept byte for byte (-text: the golden CSVs, whose rows end in CRLF by
    RFC 4180) may hold CRLF; eol=lf does not convert what was committed that way."""
    for path, (index, attributes) in line_endings().items():
        if index in {"i/crlf", "i/mixed"}:
            assert "-text" in attributes.split("attr/", 1)[-1].split(), f"{path}: {index}"
