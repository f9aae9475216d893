"""Become one container, then exec its process: `python -m tests.compose_run.launch SPEC`.

Run as root by tests/compose_run/container.py under `unshare --mount --uts`, so the
mounts and the host name below belong to this container alone. SPEC (JSON) says:
  root, lower, upper, work   the container's root: its own writable layer over the image
  mounts                     [source, target, read-only] bind mounts: the image's
                             virtualenv, then compose's volumes, outermost first
  files                      [path, content, mode, uid, gid]: compose's secrets, ...
  loopback                   bring up `lo` (network_mode: none, a network of its own)
  hostname, hosts            like Docker's: a container host name and /etc/hosts
  uid, gid, workdir          the image's USER and WORKDIR
  argv, env                  ENTRYPOINT + command, and exactly the container's environment
Standard library only: it runs before anything of the product is on the path.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["root"])
    if spec.get("lower"):
        layers = f"lowerdir={spec['lower']},upperdir={spec['upper']},workdir={spec['work']}"
        mount("-t", "overlay", "overlay", "-o", layers, str(root))
    # What every container has: its own /proc view, /dev with a private /dev/shm, /sys,
    # a private /tmp.
    mount("-t", "proc", "proc", str(root / "proc"))
    mount("--rbind", "/dev", str(root / "dev"))
    mount("-t", "tmpfs", "-o", "mode=1777,size=64m", "shm", str(root / "dev" / "shm"))
    mount("--rbind", "/sys", str(root / "sys"))
    mount("-t", "tmpfs", "-o", "mode=1777", "tmp", str(root / "tmp"))
    for source, target, read_only in spec["mounts"]:
        where = root / target.lstrip("/")
        where.mkdir(parents=True, exist_ok=True)
        mount("--bind", source, str(where))
        if read_only:
            mount("-o", "remount,bind,ro", str(where))
    for path, content, mode, uid, gid in spec.get("files", []):
        where = root / path.lstrip("/")
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(content)
        os.chown(where, uid, gid)
        where.chmod(mode)
    if spec.get("loopback"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if spec.get("hostname"):
        socket.sethostname(spec["hostname"])
        (root / "etc" / "hostname").write_text(spec["hostname"] + "\n")
    if spec.get("hosts"):
        (root / "etc" / "hosts").write_text(spec["hosts"])

    os.chroot(root)
    os.chdir(spec["workdir"])
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    argv = spec["argv"]
    os.execvpe(argv[0], argv, spec["env"])  # noqa: S606 (exec'd as Docker does, no shell)


if __name__ == "__main__":
    main(sys.argv[1])
