"""One manager's report at several team sizes, in this process: time and queries.

Through what the report package gives the services (build_report and the render
functions), so the row keeps measuring the report whatever it computes inside.
"""

import statistics
import time

from tests.bench.seed import seed_teams

RUNS = 3  # after one warm-up; the median counts


def measure(reps: int, deals: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.commission.periods import default_period
    from apps.commission.report.figures import build_report
    from apps.commission.report.render import (
        render_html,
        render_text,
        report_attachments,
        report_subject,
    )

    (manager_id,) = seed_teams(1, reps, deals, tag=f"size-{reps}-{deals}")
    manager = get_user_model().objects.get(pk=manager_id)
    period = default_period()
    builds, renders, queries = [], [], []
    for run in range(RUNS + 1):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            report = build_report(manager, period)
            built = time.perf_counter()
            for render in (report_subject, render_text, render_html, report_attachments):
                render(report)
            rendered = time.perf_counter()
        if run:
            builds.append(built - started)
            renders.append(rendered - built)
            queries.append(len(captured))
    build_ms = statistics.median(builds) * 1000
    render_ms = statistics.median(renders) * 1000
    return {
        "reps": reps,
        "deals": deals,
        "build_ms": round(build_ms, 1),
        "render_ms": round(render_ms, 1),
        "total_ms": round(build_ms + render_ms, 1),
        "queries": max(queries),
    }
