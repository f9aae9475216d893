"""The monthly fan-out alone: `python -m tests.bench.fanout OUT.json`.

Runs send_monthly_commission_reports in this process, as the reports worker would,
against DATABASE_URL's managers and CELERY_BROKER_URL (no worker consumes: the
messages stay queued). Its own process, so that its peak memory is the fan-out's.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
    import django

    django.setup()
    import core.celery  # noqa: F401  (the product's Celery app)
    from apps.commission.periods import default_period
    from apps.commission.tasks import send_monthly_commission_reports

    before = rss_mb()
    started = time.monotonic()
    result = send_monthly_commission_reports(str(default_period()))
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
