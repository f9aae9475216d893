"""How the report reads: the subject, the plain text, the HTML and the CSV, each in
the manager's language (report.language, through Django's translation catalogs)."""

import csv
import functools
import io

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import formats
from .figures import CONTEXT_FIGURES, MONEY_FIGURES, Context, Figures, Report


def in_report_language(render):
    """Run `render(report, ...)` with the manager's language active."""

    @functools.wraps(render)
    def wrapper(report: Report, *args, **kwargs):
        with translation.override(report.language):
            return render(report, *args, **kwargs)

    return wrapper


def _columns() -> tuple[str, ...]:
    return (
        _("Rep"),
        _("Deals"),
        _("Sales"),
        _("Commission"),
        _("Pending"),
        _("Approved"),
        _("Paid"),
        _("Change"),
        _("Year to date"),
        _("All pending"),
    )


def _team_columns() -> tuple[str, ...]:
    return (_("Team"), *_columns()[1:])


def _no_reps() -> str:
    return _("(no reps in this team during the period)")


def _cells(label: str, figures: Figures, context: Context) -> list[str]:
    return [
        label,
        str(figures.deals),
        *(formats.amount(getattr(figures, name)) for name in MONEY_FIGURES),
        formats.change(context.change),
        formats.amount(context.year_to_date),
        formats.amount(context.awaiting_approval),
    ]


# The stored subject's column length: a long team name shortens the subject, never
# stops the report.
SUBJECT_MAX_LENGTH = 255


def _scope(report: Report) -> str:
    """' (month to date, as of 2026-10-15)' for the month in progress, else ''."""
    if report.as_of is None:
        return ""
    return _(" (month to date, as of %(day)s)") % {"day": formats.day(report.as_of)}


@in_report_language
def report_subject(report: Report) -> str:
    team_names = ", ".join(section.name for section in report.teams)
    subject = _("Commission report %(month)s%(scope)s: %(teams)s") % {
        "month": formats.month_in_subject(report.period),
        "scope": _scope(report),
        "teams": team_names,
    }
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 1].rstrip() + "…"
    return subject


def _table(rows: list[list[str]], total_rows: int) -> list[str]:
    """Align columns: text left, numbers right; a rule above the totals."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(row) for row in rows]
    header, data = body[0], body[1:]
    split = len(data) - total_rows
    return [header, rule, *data[:split], rule, *data[split:]]


def _heading(report: Report) -> list[str]:
    """The lines above the tables, shared by the text and the HTML."""
    return [
        _("Commission report for %(month)s (%(period)s)%(scope)s")
        % {
            "month": formats.month(report.period),
            "period": str(report.period),
            "scope": _scope(report),
        },
        _("Manager: %(name)s") % {"name": report.manager_name},
        _("Amounts in %(currency)s; period %(start)s to %(end)s.")
        % {
            "currency": report.currency,
            "start": formats.day(report.period.start),
            "end": formats.day(report.last_day),
        },
        _("Change: against the previous month (%(previous)s). Year to date: since %(start)s.")
        % {
            "previous": formats.month(report.period.previous()),
            "start": formats.day(report.period.year_start),
        },
        _("All pending: commission earned up to %(end)s, not yet approved.")
        % {"end": formats.day(report.last_day)},
    ]


def _grand_total(report: Report) -> str:
    totals = report.totals
    return ngettext(
        "Grand total commission: %(commission)s on %(deals)s deal worth %(sales)s.",
        "Grand total commission: %(commission)s on %(deals)s deals worth %(sales)s.",
        totals.deals,
    ) % {
        "commission": formats.money(totals.commission, report.currency),
        "deals": totals.deals,
        "sales": formats.money(totals.sales, report.currency),
    }


def _team_heading(section) -> str:
    return _("Team: %(name)s") % {"name": section.name}


def _all_teams_heading(report: Report) -> str:
    return _("All teams (%(count)s)") % {"count": len(report.teams)}


@in_report_language
def render_text(report: Report) -> str:
    """The plain-text email body."""
    out = [*_heading(report), ""]
    for section in report.teams:
        out.append(_team_heading(section))
        if section.lines:
            rows = [list(_columns())]
            rows += [_cells(line.name, line.figures, line.context) for line in section.lines]
            rows.append(_cells(_("Team total"), section.totals, section.context))
            out += _table(rows, total_rows=1)
        else:
            out.append(_no_reps())
        out.append("")
    if len(report.teams) > 1:
        out.append(_all_teams_heading(report))
        out += _table(_all_teams_rows(report), total_rows=1)
        out.append("")
    out.append(_grand_total(report))
    return "\n".join(out) + "\n"


def _all_teams_rows(report: Report) -> list[list[str]]:
    """Each team's totals and the grand total, under a header row."""
    rows = [list(_team_columns())]
    rows += [_cells(section.name, section.totals, section.context) for section in report.teams]
    rows.append(_cells(_("Grand total"), report.totals, report.context))
    return rows


@in_report_language
def render_html(report: Report) -> str:
    """The HTML alternative of the email body."""
    all_teams_rows = _all_teams_rows(report)
    return render_to_string(
        "commission/report_email.html",
        {
            "language": report.language,
            "title": _("Commission report %(month)s")
            % {"month": formats.month_in_subject(report.period)},
            "heading": _heading(report),
            "columns": _columns(),
            "teams": [
                {
                    "heading": _team_heading(section),
                    "rows": [
                        _cells(line.name, line.figures, line.context) for line in section.lines
                    ],
                    "total": _cells(_("Team total"), section.totals, section.context),
                }
                for section in report.teams
            ],
            "no_reps": _no_reps(),
            "team_columns": _team_columns(),
            # One row per team when there are several (as the text's "All teams"), then
            # the grand total.
            "all_teams_heading": _all_teams_heading(report)
            if len(report.teams) > 1
            else _("Grand total"),
            "all_teams": all_teams_rows[1:-1] if len(report.teams) > 1 else [],
            "grand_total": all_teams_rows[-1],
        },
    )


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"); a leading apostrophe makes it text again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


@in_report_language
def render_csv(report: Report) -> str:
    """One row per rep and team, for spreadsheets: translated headers, plain numbers
    (a dot before the cents, no grouping) and ISO months, whatever the language. Names
    are neutralised against formulas; numbers stay numbers. Columns added later come
    after Currency, so readers that count columns keep working."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = _columns()
    month_columns, context_columns = (
        columns[: -len(CONTEXT_FIGURES)],
        columns[-len(CONTEXT_FIGURES) :],
    )
    writer.writerow([_("Period"), _("Team"), *month_columns, _("Currency"), *context_columns])
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
                    *(str(getattr(line.context, name)) for name in CONTEXT_FIGURES),
                ]
            )
    return buffer.getvalue()


def report_attachments(report: Report) -> list[dict]:
    """The files the email carries, as EmailDelivery.attachments stores them."""
    return [
        {
            "filename": f"commission-report-{report.period}.csv",
            "content": render_csv(report),
            "mimetype": "text/csv",
        }
    ]
