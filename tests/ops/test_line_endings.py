"""Line endings: LF in every checkout, so the mounted checkout's scripts run in Linux."""

import subprocess

import pytest

from tests.support.processes import REPO_DIR as REPO


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
