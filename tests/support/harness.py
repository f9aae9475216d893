"""What `make faults` and `make bench` share around their run: a scratch directory and
a run that, broken or interrupted, still lets the caller print what it has."""

import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path


def run_in_scratch(body: Callable[[Path], None], *, prefix: str, keep: bool) -> str:
    """Call `body(root)` with a new temporary directory; return "" when it finished,
    else what stopped it ("interrupted", or the error, whose traceback is printed).
    The directory goes afterwards unless `keep`."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the postgres user reaches its data directory through it
    try:
        body(root)
    except KeyboardInterrupt:
        return "interrupted"
    except Exception as exc:
        traceback.print_exc()
        return f"{type(exc).__name__}: {exc}"
    finally:
        if keep:
            print(f"Kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return ""
