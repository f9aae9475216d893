"""The fault table (aligned, Markdown-ish) and its JSON copy in var/faults/last.json."""

import json
from pathlib import Path

from tests.support.processes import REPO_DIR

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
    lines = [list(COLUMNS), *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def render(values: list[str]) -> str:
        padded = [
            value.ljust(width) if i == 0 else value.rjust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


def write_json(payload: dict, path: Path = JSON_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
