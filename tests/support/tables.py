"""The harnesses' output: an aligned Markdown table for the terminal and a JSON copy."""

import json
from pathlib import Path


def markdown_table(
    header: list[str], rows: list[list[str]], text_columns: tuple[int, ...] = (0,)
) -> str:
    """Text columns (the first, unless told) left-aligned, the others (numbers) right-aligned."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(values: list[str]) -> str:
        padded = [
            value.ljust(width) if i in text_columns else value.rjust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(header), rule, *(render(line) for line in rows)])


def write_json(payload: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
