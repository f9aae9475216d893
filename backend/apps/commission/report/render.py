"""How the report reads: the subject, the plain text, the HTML and the two CSVs, each
in the manager's language (report.language, through Django's translation catalogs)."""

import csv
import functools
import io
import textwrap
from dataclasses import dataclass

import css_inline
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..money import ZERO
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
    """The per-rep CSV's columns (and the detail's labels, but for the first)."""
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


def _no_reps() -> str:
    return _("(no reps in this team during the period)")


# The stored subject's column length: a long team name shortens the subject, never
# stops the report.
SUBJECT_MAX_LENGTH = 255
# The plain text's widest line: it reads in a proportional font, on a phone too.
TEXT_WIDTH = 72
# The text's trend bars: the largest month is this many blocks.
TEXT_BAR_WIDTH = 20


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


# WHAT BOTH BODIES SAY
# ------------------------------------------------------------------------------
# The text and the HTML say the same, in the same order: the month's answer first
# (total, change, awaiting approval, each team's total, the trend), then each team's
# reps, then what the columns mean. Each piece below is one sentence or one figure.


@dataclass(frozen=True)
class Detail:
    """A rep's or a total's block: its name, its commission, then label-value pairs."""

    name: str
    commission: str
    pairs: tuple[tuple[str, str], ...]
    # A team's total, after its reps.
    total: bool = False


@dataclass(frozen=True)
class TrendBar:
    label: str
    amount: str
    # The bar's length, 0 to 100, against the trend's largest month.
    percent: int


def _title(report: Report) -> str:
    return _("Commission report for %(month)s (%(period)s)%(scope)s") % {
        "month": formats.month(report.period),
        "period": str(report.period),
        "scope": _scope(report),
    }


def _manager_line(report: Report) -> str:
    return _("Manager: %(name)s") % {"name": report.manager_name}


def _amounts_line(report: Report) -> str:
    return _("Amounts in %(currency)s; period %(start)s to %(end)s.") % {
        "currency": report.currency,
        "start": formats.day(report.period.start),
        "end": formats.day(report.last_day),
    }


def _total_label() -> str:
    return _("Total commission")


def _deals_line(report: Report) -> str:
    totals = report.totals
    return ngettext(
        "on %(deals)s deal worth %(sales)s",
        "on %(deals)s deals worth %(sales)s",
        totals.deals,
    ) % {"deals": totals.deals, "sales": formats.money(totals.sales, report.currency)}


def _change_line(report: Report) -> tuple[str, str]:
    """The change against the previous month in words, with an arrow that says its
    direction without colour; and its direction ('up', 'down', 'same') for styling."""
    change, previous = report.context.change, report.context.previous
    values = {
        "amount": formats.money(abs(change), report.currency),
        "share": f" ({formats.percent(change / previous)})" if previous else "",
        "month": formats.month(report.period.previous()),
    }
    if change > 0:
        return _("▲ Up %(amount)s%(share)s on the previous month (%(month)s)") % values, "up"
    if change < 0:
        return _("▼ Down %(amount)s%(share)s on the previous month (%(month)s)") % values, "down"
    return _("= No change on the previous month (%(month)s)") % values, "same"


def _awaiting_line(report: Report) -> str:
    context = report.context
    if not context.awaiting_approval_count:
        return _("Awaiting approval: nothing.")
    return ngettext(
        "Awaiting approval: %(amount)s in %(count)s commission.",
        "Awaiting approval: %(amount)s in %(count)s commissions.",
        context.awaiting_approval_count,
    ) % {
        "amount": formats.money(context.awaiting_approval, report.currency),
        "count": context.awaiting_approval_count,
    }


def _by_team_heading() -> str:
    return _("By team")


def _team_totals(report: Report) -> list[tuple[str, str]]:
    return [
        (section.name, formats.money(section.totals.commission, report.currency))
        for section in report.teams
    ]


def _trend_heading() -> str:
    return _("Commission by month")


def _trend(report: Report) -> list[TrendBar]:
    largest = max((max(amount, ZERO) for amount in report.trend), default=ZERO)
    return [
        TrendBar(
            label=formats.month_short(month),
            amount=formats.amount(amount),
            percent=int(max(amount, ZERO) * 100 / largest) if largest else 0,
        )
        for month, amount in zip(report.trend_months, report.trend, strict=True)
    ]


def _labels() -> dict[str, str]:
    """Each figure's name in the detail: its column's in the per-rep CSV."""
    return dict(zip(("deals", *MONEY_FIGURES, *CONTEXT_FIGURES), _columns()[1:], strict=True))


# The month's commission by status, in the order a commission moves.
STATUS_FIGURES = ("pending", "approved", "paid")


def _pairs(
    figures: Figures, context: Context, labels: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    """The figures beside the commission."""
    pairs = [(labels["deals"], str(figures.deals))]
    pairs.append((labels["sales"], formats.amount(figures.sales)))
    pairs.append((labels["change"], formats.change(context.change)))
    pairs += [(labels[name], formats.amount(getattr(figures, name))) for name in STATUS_FIGURES]
    pairs.append((labels["year_to_date"], formats.amount(context.year_to_date)))
    pairs.append((labels["awaiting_approval"], formats.amount(context.awaiting_approval)))
    return tuple(pairs)


def _summary_pairs(report: Report) -> tuple[tuple[str, str], ...]:
    """All teams' figures the summary's sentences leave out: the year so far (the
    month by status is in each team's total, where it does not read as a second
    "awaiting approval")."""
    return ((_labels()["year_to_date"], formats.amount(report.context.year_to_date)),)


def _detail(name: str, figures: Figures, context: Context, labels: dict[str, str], total=False):
    return Detail(name, formats.amount(figures.commission), _pairs(figures, context, labels), total)


def _team_heading(section) -> str:
    return _("Team: %(name)s") % {"name": section.name}


def _notes(report: Report) -> list[str]:
    """What the labels mean, and what is attached."""
    files = attachment_names(report)
    return [
        _("Change: against the previous month (%(previous)s). Year to date: since %(start)s.")
        % {
            "previous": formats.month(report.period.previous()),
            "start": formats.day(report.period.year_start),
        },
        _("All pending: commission earned up to %(end)s, not yet approved.")
        % {"end": formats.day(report.last_day)},
        _("Attached: %(reps)s, one row per rep, and %(deals)s, one row per deal.")
        % {"reps": files.reps, "deals": files.deals},
    ]


@dataclass(frozen=True)
class _Team:
    heading: str
    total: str
    # Each rep's, then the team total's (none for a team of one: it is that rep's).
    details: tuple[Detail, ...]


def _teams(report: Report) -> list[_Team]:
    labels = _labels()
    teams = []
    for section in report.teams:
        details = [_detail(line.name, line.figures, line.context, labels) for line in section.lines]
        if len(details) > 1:
            details.append(
                _detail(_("Team total"), section.totals, section.context, labels, total=True)
            )
        teams.append(
            _Team(
                heading=_team_heading(section),
                total=formats.money(section.totals.commission, report.currency),
                details=tuple(details),
            )
        )
    return teams


# PLAIN TEXT
# ------------------------------------------------------------------------------


def _wrap(text: str, indent: str = "") -> list[str]:
    """One paragraph in lines of at most TEXT_WIDTH characters."""
    return textwrap.wrap(
        text,
        TEXT_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    ) or [indent.rstrip()]


def _flow(items: list[str], indent: str, separator: str = " · ") -> list[str]:
    """Items side by side while they fit in TEXT_WIDTH; an item is never split, unless
    it is wider than a line on its own."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(separator) + len(item) <= TEXT_WIDTH:
            lines[-1] += separator + item
        else:
            lines += _wrap(item, indent)
    return lines


def _text_detail(detail: Detail) -> list[str]:
    return [
        *_wrap(f"{detail.name}: {detail.commission}"),
        *_flow([f"{label} {value}" for label, value in detail.pairs], "  "),
    ]


@in_report_language
def render_text(report: Report) -> str:
    """The plain-text email body: no line wider than TEXT_WIDTH."""
    change, _direction = _change_line(report)
    out = [
        *_wrap(_title(report)),
        *_wrap(_manager_line(report)),
        *_wrap(_amounts_line(report)),
        "",
        *_wrap(f"{_total_label()}: {formats.money(report.totals.commission, report.currency)}"),
        *_wrap(_deals_line(report), "  "),
        *_flow([f"{label} {value}" for label, value in _summary_pairs(report)], "  "),
        *_wrap(change),
        *_wrap(_awaiting_line(report)),
        "",
        _by_team_heading(),
        *(line for name, total in _team_totals(report) for line in _wrap(f"{name}: {total}", "- ")),
        "",
        _trend_heading(),
    ]
    trend = _trend(report)
    label_width = max(len(bar.label) for bar in trend)
    amount_width = max(len(bar.amount) for bar in trend)
    for bar in trend:
        blocks = "█" * round(bar.percent * TEXT_BAR_WIDTH / 100)
        out.append(f"{bar.label:<{label_width}}  {bar.amount:>{amount_width}}  {blocks}".rstrip())
    for team in _teams(report):
        out += ["", *_wrap(f"{team.heading} ({team.total})"), ""]
        if not team.details:
            out += _wrap(_no_reps())
        for detail in team.details:
            out += ["", *_text_detail(detail)] if detail.total else _text_detail(detail)
    out.append("")
    for note in _notes(report):
        out += _wrap(note)
    return "\n".join(out) + "\n"


# HTML
# ------------------------------------------------------------------------------

# Inline styles from the one stylesheet (report_email.css, read by the template): email
# clients drop <style> blocks or rank them below their own. At-rules (dark mode, the
# narrow screen) cannot be inlined and stay in a <style>. Nothing is fetched.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@in_report_language
def render_html(report: Report) -> str:
    """The HTML alternative of the email body: one column, at most 600 px wide, styles
    inline, no script and nothing loaded from elsewhere."""
    change, direction = _change_line(report)
    html = render_to_string(
        "commission/report_email.html",
        {
            "language": report.language,
            "title": _("Commission report %(month)s")
            % {"month": formats.month_in_subject(report.period)},
            "heading": _title(report),
            "manager": _manager_line(report),
            "amounts": _amounts_line(report),
            "total_label": _total_label(),
            "total": formats.money(report.totals.commission, report.currency),
            "deals": _deals_line(report),
            "summary_pairs": _summary_pairs(report),
            "change": change,
            "direction": direction,
            "awaiting": _awaiting_line(report),
            "by_team": _by_team_heading(),
            "team_totals": _team_totals(report),
            "trend_heading": _trend_heading(),
            "trend": _trend(report),
            "teams": _teams(report),
            "no_reps": _no_reps(),
            "notes": _notes(report),
        },
    )
    return _INLINER.inline(html)


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


@in_report_language
def render_deals_csv(report: Report) -> str:
    """One row per deal of the period, the figures' source: as render_csv writes
    numbers and names, ISO days, and each commission's status as its code (pending,
    approved, paid) whatever the language, for filters and formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            _("Deal"),
            _("Closed on"),
            _("Rep"),
            _("Team"),
            _("Amount"),
            _("Commission"),
            _("Status"),
            _("Currency"),
        ]
    )
    for deal in report.deals:
        writer.writerow(
            [
                _csv_text(deal.reference),
                deal.closed_on.isoformat(),
                _csv_text(deal.rep_name),
                _csv_text(deal.team_name),
                str(deal.amount),
                str(deal.commission),
                deal.status,
                report.currency,
            ]
        )
    return buffer.getvalue()


@dataclass(frozen=True)
class AttachmentNames:
    reps: str
    deals: str


def attachment_names(report: Report) -> AttachmentNames:
    return AttachmentNames(
        reps=f"commission-report-{report.period}.csv",
        deals=f"commission-deals-{report.period}.csv",
    )


def report_attachments(report: Report) -> list[dict]:
    """The files the email carries, as EmailDelivery.attachments stores them."""
    names = attachment_names(report)
    return [
        {"filename": names.reps, "content": render_csv(report), "mimetype": "text/csv"},
        {"filename": names.deals, "content": render_deals_csv(report), "mimetype": "text/csv"},
    ]
