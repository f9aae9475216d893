"""Memory figures of a process, from /proc/<pid>/status (Linux)."""

from pathlib import Path


def status_mb(field: str, pid: int | str = "self") -> float:
    """VmRSS, VmHWM, ... of the process, in MB (0.0 if the field is absent).

    Raises OSError when the process is gone."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0
