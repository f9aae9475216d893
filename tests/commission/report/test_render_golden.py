"""The demo report as a manager reads it, in each language, compared character for
character with tests/golden/. After a deliberate change to the report, regenerate the
files and review their diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/commission/report/test_render_golden.py
"""

import datetime as dt
import io
import os

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from apps.commission.periods import Period
from apps.commission.report.figures import build_report
from apps.commission.report.render import (
    render_csv,
    render_deals_csv,
    render_html,
    render_text,
    report_subject,
)
from tests.support.processes import REPO_DIR

pytestmark = pytest.mark.django_db

GOLDEN = REPO_DIR / "tests" / "golden"
# The demo data set is drawn relative to today; a fixed today makes it the same
# everywhere. Its October has Ivan moving from SMB to Enterprise North mid-month.
TODAY = dt.date(2026, 11, 15)
OCTOBER = Period(2026, 10)


@pytest.fixture
def demo(monkeypatch, settings, request):
    """The demo data set in the given currency, seeded as of TODAY."""
    settings.COMMISSION_CURRENCY = request.param
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    call_command("seed_demo", stdout=io.StringIO())


def renderings(report) -> dict[str, str]:
    return {
        "txt": f"Subject: {report_subject(report)}\n\n{render_text(report)}",
        "html": render_html(report),
        "csv": render_csv(report),
        "deals.csv": render_deals_csv(report),
    }


@pytest.mark.parametrize(
    ("language", "demo"), [("en", "USD"), ("ru", "RUB")], indirect=["demo"], ids=["en", "ru"]
)
def test_the_demo_report_reads_as_the_golden_files(demo, language):
    maria = get_user_model().objects.get(username="maria")
    maria.language = language
    maria.save(update_fields=["language"])

    actual = renderings(build_report(maria, OCTOBER))

    for extension, text in actual.items():
        path = GOLDEN / f"demo-report-{language}.{extension}"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_bytes(text.encode())
        expected = path.read_bytes().decode()
        assert text == expected, (
            f"{path.name} differs; if the change is meant, regenerate with UPDATE_GOLDEN=1 "
            "and review the diff"
        )
