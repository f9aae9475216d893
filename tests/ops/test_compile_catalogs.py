"""The translation catalogs (ops/scripts/compile-catalogs.sh): compiled, then left alone until
the .po file changes; in a checkout the app user cannot write, a best-effort run costs the
translations, not the stack; only the development web server runs it so."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.support.compose import runtime_stage
from tests.support.fresh_python import clean_env, printed_json
from tests.support.processes import REPO_DIR as REPO

RU_PO = Path("backend/locale/ru/LC_MESSAGES/django.po")
RU_MO = RU_PO.with_suffix(".mo")


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
