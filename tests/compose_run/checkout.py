"""What the development containers mount at /app (`.:/app`): a copy of the checkout as a
fresh clone has it (tracked files and new ones git does not ignore, as they are now).

Owned by root unless told otherwise: the checkout is often not owned by the image's
uid 1000 (CI's is root's; a host user's is often another uid), and the containers must
work with what they are given. The copy gets local files a developer typically has
(.env, and var/run.env from `make run`), whose values no container may read: compose
says what the containers get.
"""

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.processes import REPO_DIR

# Values that stop the settings if read (LANGUAGE_CODE must be en or ru) and name the
# file they leaked from.
PLANTED = {
    ".env": "LANGUAGE_CODE=planted-in-.env\n",
    "var/run.env": "LANGUAGE_CODE=planted-in-var/run.env\n",
}


def tracked_and_new_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


def checkout_copy(target: Path, owner: int = 0, plant: bool = True) -> Path:
    for name in tracked_and_new_files():
        source = REPO_DIR / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)
    if plant:
        for name, text in PLANTED.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_text(text)
    target.chmod(0o755)
    if owner != 0:
        for directory, dirnames, filenames in os.walk(target):
            for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
                os.lchown(name, owner, owner)
    return target
