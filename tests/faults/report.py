"""The fault table (aligned, Markdown-ish) and its JSON copy in var/faults/last.json."""

from pathlib import Path

from tests.support import tables
from tests.support.processes import REPO_DIR
from tests.support.tables import markdown_table

JSON_PATH = REPO_DIR / "var" / "faults" / "last.json"
COLUMNS = (
    "fault",
    "managers",
    "emails received by provider",
    "lost",
    "duplicates",
    "time until all arrived (s)",
    "after the master's kill: promoted / first / last email (s); queued again",
)


def cells(row: dict) -> list[str]:
    duplicates = str(row["duplicates"])
    if row["duplicates"] and row["duplicates_allowed"]:
        duplicates += " (no tracking: allowed)"
    return [
        row["fault"] + ("" if row["ok"] else " FAILED"),
        str(row["managers"]),
        str(row["received"]),
        str(row["lost"]),
        duplicates,
        "-" if row["seconds"] is None else f"{row['seconds']:.1f}",
        _failover(row.get("failover")),
    ]


def _failover(numbers: dict | None) -> str:
    """For a Sentinel scenario: the failover's moments, and what the reconcilers queued
    again (reports, emails), which covers what the old master never replicated."""
    if not numbers:
        return "-"
    return (
        f"{numbers['promoted_s']} / {numbers['first_email_s']} / {numbers['last_email_s']}; "
        f"{numbers['report_requests']} reports, {numbers['deliveries']} emails"
    )


def table(rows: list[dict]) -> str:
    return markdown_table(list(COLUMNS), [cells(row) for row in rows])


def write_json(payload: dict, path: Path = JSON_PATH) -> Path:
    return tables.write_json(payload, path)
