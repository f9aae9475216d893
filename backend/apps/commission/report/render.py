"""How the report reads: the subject, the plain text, the HTML and the CSV."""

import csv
import io

from django.template.loader import render_to_string

from ..money import format_money
from .figures import MONEY_FIGURES, Figures, Report

COLUMNS = ("Rep", "Deals", "Sales", "Commission", "Pending", "Approved", "Paid")
TEAM_COLUMNS = ("Team", *COLUMNS[1:])
NO_REPS = "(no reps in this team during the period)"


def _cells(label: str, figures: Figures) -> list[str]:
    return [
        label,
        str(figures.deals),
        *(format_money(getattr(figures, name)) for name in MONEY_FIGURES),
    ]


# The stored subject's column length: a long team name shortens the subject, never
# stops the report.
SUBJECT_MAX_LENGTH = 255


def report_subject(report: Report) -> str:
    team_names = ", ".join(section.name for section in report.teams)
    subject = f"Commission report {report.period}{report.scope}: {team_names}"
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"
    return subject


def _table(rows: list[list[str]], total_rows: int) -> list[str]:
    """Align columns: text left, numbers right; a rule above the totals."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(row) for row in rows]
    header, data = body[0], body[1:]
    split = len(data) - total_rows
    return [header, rule, *data[:split], rule, *data[split:]]


def render_text(report: Report) -> str:
    """The plain-text email body."""
    out = [
        f"Commission report for {report.period.label} ({report.period}){report.scope}",
        f"Manager: {report.manager_name}",
        f"Amounts in {report.currency}; period "
        f"{report.period.start.isoformat()} to {report.last_day.isoformat()}.",
        "",
    ]
    for section in report.teams:
        out.append(f"Team: {section.name}")
        if section.lines:
            rows = [list(COLUMNS)]
            rows += [_cells(line.name, line.figures) for line in section.lines]
            rows.append(_cells("Team total", section.totals))
            out += _table(rows, total_rows=1)
        else:
            out.append(NO_REPS)
        out.append("")
    if len(report.teams) > 1:
        out.append(f"All teams ({len(report.teams)})")
        out += _table(_all_teams_rows(report), total_rows=1)
        out.append("")
    out.append(
        f"Grand total commission: {format_money(report.totals.commission)} {report.currency} "
        f"on {report.totals.deals} deals worth {format_money(report.totals.sales)} "
        f"{report.currency}."
    )
    return "\n".join(out) + "\n"


def _all_teams_rows(report: Report) -> list[list[str]]:
    """Each team's totals and the grand total, under a header row."""
    rows = [list(TEAM_COLUMNS)]
    rows += [_cells(section.name, section.totals) for section in report.teams]
    rows.append(_cells("Grand total", report.totals))
    return rows


def render_html(report: Report) -> str:
    """The HTML alternative of the email body."""
    return render_to_string(
        "commission/report_email.html",
        {
            "report": report,
            "columns": COLUMNS,
            "teams": [
                {
                    "name": section.name,
                    "rows": [_cells(line.name, line.figures) for line in section.lines],
                    "total": _cells("Team total", section.totals),
                }
                for section in report.teams
            ],
            "no_reps": NO_REPS,
            "team_columns": TEAM_COLUMNS,
            # One row per team when there are several (as the text's "All teams"), then
            # the grand total.
            "all_teams": _all_teams_rows(report)[1:-1] if len(report.teams) > 1 else [],
            "grand_total": _cells("Grand total", report.totals),
        },
    )


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def render_csv(report: Report) -> str:
    """One row per rep and team, for spreadsheets. Names are neutralised against
    formulas; numbers stay numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Period", "Team", *COLUMNS, "Currency"])
    for section in report.teams:
        for line in section.lines:
            figures = line.figures
            writer.writerow(
                [
                    str(report.period),
                    _csv_text(section.name),
                    _csv_text(line.name),
                    figures.deals,
                    *(str(getattr(figures, name)) for name in MONEY_FIGURES),
                    report.currency,
                ]
            )
    return buffer.getvalue()
