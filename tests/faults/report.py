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
    ]


def table(rows: list[dict]) -> str:
    return markdown_table(list(COLUMNS), [cells(row) for row in rows])


def write_json(payload: dict, path: Path = JSON_PATH) -> Path:
    return tables.write_json(payload, path)
