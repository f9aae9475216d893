"""The operator's month in the admin: /admin/months/ lists the months, and
/admin/months/<YYYY-MM>/ says how one went (apps.commission.month), each count a link
to the list behind it, each problem with the one action that fixes it.

Only reads; the actions are the lists' own admin actions (their confirmation pages and
permissions). Seen by whoever may view both report requests and email deliveries."""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.mailing.models import EmailDelivery
from core.admin_month_link import month_url

from .models import ReportRequest
from .month import MonthSummary, Problem, month_summary
from .periods import InvalidPeriod, default_period, parse_period

VIEW_PERMISSIONS = ("commission.view_reportrequest", "mailing.view_emaildelivery")
MONTHS_LISTED = 36
# The admin actions a problem's button posts to (each asks first, and checks its own
# permission): the deliveries' "Send again" and the undeliverable marks' "Clear".
SEND_AGAIN = ("admin:mailing_emaildelivery_changelist", "send_again", "taskops.retry_failed_task")
CLEAR_MARK = (
    "admin:mailing_undeliverableaddress_changelist",
    "clear_marks",
    "mailing.clear_undeliverableaddress",
)


def _check_permissions(request) -> None:
    if not request.user.has_perms(VIEW_PERMISSIONS):
        raise PermissionDenied


@require_safe
def month_index(request):
    _check_permissions(request)
    periods = list(
        ReportRequest.objects.order_by("-period")
        .values_list("period", flat=True)
        .distinct()[:MONTHS_LISTED]
    )
    last_month = str(default_period())
    if last_month not in periods:
        periods.insert(0, last_month)
    context = {
        **admin.site.each_context(request),
        "title": "Months",
        "months": [(period, month_url(period)) for period in sorted(periods, reverse=True)],
    }
    return render(request, "admin/commission/months.html", context)


@require_safe
def month_page(request, period: str):
    _check_permissions(request)
    try:
        month = parse_period(period)
    except InvalidPeriod as exc:
        raise Http404(str(exc)) from exc
    summary = month_summary(month)
    context = {
        **admin.site.each_context(request),
        "title": f"Commission reports for {month}",
        "summary": summary,
        "links": _count_links(summary),
        "outcomes": [
            (
                outcome,
                _deliveries_url(summary.period, outcome=outcome.status, copy="original"),
                _deliveries_url(summary.period, outcome=outcome.status, copy="resend"),
            )
            for outcome in summary.outcomes
        ],
        "problems": [_with_action(request, problem) for problem in summary.problems],
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return render(request, "admin/commission/month.html", context)


def _list_url(name: str, **filters) -> str:
    return f"{reverse(name)}?{urlencode(filters)}"


def _deliveries_url(period: str, **filters) -> str:
    return _list_url("admin:mailing_emaildelivery_changelist", period=period, **filters)


def _count_links(summary: MonthSummary) -> dict[str, str]:
    requests = "admin:commission_reportrequest_changelist"
    return {
        "requests": _list_url(requests, period__exact=summary.period),
        "queued": _list_url(requests, period__exact=summary.period, status__exact="queued"),
        "refused": _list_url(requests, period__exact=summary.period, status__exact="refused"),
        "reports": _list_url(
            "admin:commission_commissionreport_changelist", period__exact=summary.period
        ),
        "owed": _deliveries_url(summary.period, owed="owed"),
        "stalled": _deliveries_url(summary.period, owed="stalled"),
    }


def _with_action(request, problem: Problem) -> dict:
    """The problem and the one thing that fixes it: a button to an admin action (when
    the operator may take it), or a link to the page where it is done."""
    row = {"problem": problem, "button": None, "link": None, "note": ""}
    if problem.delivery_id:
        row["record"] = reverse("admin:mailing_emaildelivery_change", args=[problem.delivery_id])
    else:
        row["record"] = reverse("admin:commission_reportrequest_change", args=[problem.request_id])
    user_page = (
        reverse("admin:accounts_user_change", args=[problem.manager_id])
        if problem.manager_id
        else None
    )
    if problem.kind == EmailDelivery.Status.FAILED:
        row["button"] = _button(request, SEND_AGAIN, problem.delivery_id, "Send again…")
        row["note"] = "" if row["button"] else "Needs the permission to retry failed tasks."
    elif problem.kind == EmailDelivery.Status.HELD and problem.mark_id:
        row["button"] = _button(request, CLEAR_MARK, problem.mark_id, "Clear the mark and send…")
        row["link"] = (user_page, "or correct the address") if user_page else None
        row["note"] = "" if row["button"] else "Needs the permission to clear address marks."
    elif user_page:
        # Bounced, spam, rejected, a refused report, or held by a mark since cleared: the
        # fix starts at the manager's address (correcting it releases what it holds).
        row["link"] = (user_page, "Correct the address")
    return row


def _button(request, action: tuple[str, str, str], pk: int | None, label: str) -> dict | None:
    changelist, name, permission = action
    if pk is None or not request.user.has_perm(permission):
        return None
    return {"url": reverse(changelist), "action": name, "pk": pk, "label": label}
