"""The monthly fan-out alone: `python -m tests.bench.fanout OUT.json`.

Runs send_monthly_commission_reports in this process, as the reports worker would,
against DATABASE_URL's managers and CELERY_BROKER_URL (no worker consumes: the
messages stay queued). Its own process, so that its peak memory is the fan-out's.
"""

import json
import os
import sys
import time
from pathlib import Path

from tests.bench.memory import status_mb


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    import core.celery  # noqa: F401  (the product's Celery app)
    from apps.commission.periods import default_period
    from apps.commission.tasks import send_monthly_commission_reports

    before = status_mb("VmRSS")
    started = time.monotonic()
    result = send_monthly_commission_reports(str(default_period()))
    seconds = time.monotonic() - started
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec, so it would
    # report the harness's own size, the process this one was forked from.
    peak = status_mb("VmHWM")
    outcome = {
        "queued": result["queued"],
        "seconds": round(seconds, 3),
        "per_s": round(result["queued"] / seconds, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
    }
    Path(sys.argv[1]).write_text(json.dumps(outcome))


if __name__ == "__main__":
    main()
