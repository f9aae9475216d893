"""Reading task results as an operator does: which failures still need someone, and what
each task was doing, in words (the manager and month it was for).

A failure is *handled* once nobody needs to act on it:
- it was retried (a TaskRetry names it);
- its email delivery has moved on since: it left, was cancelled, was queued again or is
  held, or a later attempt owns it now (that attempt's own failure, if any, is the one
  to act on);
- its report's request is built;
- any other task ran again successfully since, with the same arguments.
Each rule is an SQL EXISTS on the arguments the result's meta holds (core.celery records
them there as JSON; the result serializer is JSON only), so a page of results costs
the same few queries whatever its size. Results without those arguments match no rule
but the retry, and are shown.
"""

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from celery import states
from django.contrib.auth import get_user_model
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django_celery_results.models import TaskResult

from apps.commission.models import ReportRequest
from apps.mailing.models import EmailDelivery
from core.validators import parse_id

from .models import TaskRetry

EMAIL_TASK = "apps.mailing.tasks.send_email_delivery"
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
MONTHLY_TASK = "apps.commission.tasks.send_monthly_commission_reports"

Status = EmailDelivery.Status

# An email whose failure someone must act on: failed, or its outcome unknown with no
# attempt left (the operator decides, through a confirmed retry).
EMAIL_NEEDS_SOMEONE = Q(status=Status.FAILED) | Q(
    status=Status.UNCONFIRMED, next_attempt_at__isnull=True
)
# Digits only before the cast: PostgreSQL refuses to cast anything else to a number,
# and one forged row must not break the page.
_ID_PATTERN = r"^[0-9]{1,18}$"


def _argument(position: int, name: str):
    """The task's argument at `position`, or keyword `name`, as text (NULL if neither)."""
    return Coalesce(KT(f"_meta_json__args__{position}"), KT(f"_meta_json__kwargs__{name}"))


def _id_for(task_name: str, text: str):
    """The annotation `text` as an id when the result is of `task_name`; NULL otherwise."""
    return Case(
        When(
            Q(task_name=task_name) & Q(**{f"{text}__regex": _ID_PATTERN}),
            then=Cast(text, BigIntegerField()),
        ),
        default=None,
        output_field=BigIntegerField(),
    )


def with_handling(results: QuerySet[TaskResult]) -> QuerySet[TaskResult]:
    """The results, each with `retried_as_id` and `retried_by_name` (its TaskRetry, if
    any), `email_moved_on`, `report_built`, `ran_again` and `handled` (any of those)."""
    retries = TaskRetry.objects.filter(original_task_id=OuterRef("task_id"))
    # Aliases, not annotations: used by the rules below, never selected.
    results = results.alias(
        _meta_json=Cast("meta", JSONField()),
        _first=_argument(0, "delivery_id"),
        _user=_argument(0, "user_id"),
        _period=_argument(1, "period"),
        _resend_key=Coalesce(_argument(2, "resend_key"), Value(""), output_field=TextField()),
        _args=KT("_meta_json__args"),
        _kwargs=KT("_meta_json__kwargs"),
    ).alias(
        _delivery_id=_id_for(EMAIL_TASK, "_first"),
        _manager_id=_id_for(REPORT_TASK, "_user"),
    )
    email_moved_on = EmailDelivery.objects.filter(pk=OuterRef("_delivery_id")).exclude(
        EMAIL_NEEDS_SOMEONE & Q(sending_task_id=OuterRef("task_id"))
    )
    report_built = ReportRequest.objects.filter(
        manager_id=OuterRef("_manager_id"),
        period=OuterRef("_period"),
        resend_key=OuterRef("_resend_key"),
        status=ReportRequest.Status.BUILT,
    )
    # Not for emails and reports: their own rules say more, and each month holds a
    # success of theirs per manager, which this would compare one by one.
    ran_again = (
        TaskResult.objects.filter(
            task_name=OuterRef("task_name"),
            status=states.SUCCESS,
            date_done__gt=OuterRef("date_done"),
        )
        .exclude(task_name__in=(EMAIL_TASK, REPORT_TASK))
        .alias(
            _meta_json=Cast("meta", JSONField()),
            _args=KT("_meta_json__args"),
            _kwargs=KT("_meta_json__kwargs"),
        )
        .filter(_args=OuterRef("_args"), _kwargs=OuterRef("_kwargs"))
    )
    return results.annotate(
        retried_as_id=Subquery(retries.values("new_task_id")[:1]),
        retried_by_name=Subquery(retries.values("retried_by_name")[:1]),
        email_moved_on=Exists(email_moved_on),
        report_built=Exists(report_built),
        ran_again=Exists(ran_again),
    ).annotate(
        handled=ExpressionWrapper(
            Q(retried_as_id__isnull=False)
            | Q(email_moved_on=True)
            | Q(report_built=True)
            | Q(ran_again=True),
            output_field=BooleanField(),
        )
    )


def without_handled_failures(results: QuerySet[TaskResult]) -> QuerySet[TaskResult]:
    """The results (annotated by with_handling) but the failures nobody needs to act on."""
    return results.exclude(Q(status=states.FAILURE) & Q(handled=True))


def failed_results(
    *,
    task_name: str | None = None,
    since: dt.datetime | None = None,
    handled_too: bool = False,
) -> QuerySet[TaskResult]:
    """Failed task results, oldest first, annotated by with_handling; by default only the
    ones still needing someone."""
    results = with_handling(TaskResult.objects.filter(status=states.FAILURE))
    if not handled_too:
        results = results.filter(handled=False)
    if task_name:
        results = results.filter(task_name=task_name)
    if since is not None:
        results = results.filter(date_done__gte=since)
    return results.order_by("date_done", "pk")


@dataclass(frozen=True)
class Work:
    """What a task was doing, as an operator reads it."""

    text: str
    # The email delivery it was sending, as it is now (None for other tasks).
    delivery: EmailDelivery | None = None


def describe_work(calls: Iterable[tuple[str, list, dict] | None]) -> list[Work]:
    """Each (task name, args, kwargs) in words: "report for Maria Ivanova, 2026-11",
    "email 13 to maria@example.com (Maria Ivanova, 2026-11)". None (arguments unknown)
    reads "?". One query for all the deliveries named and one for all the managers."""
    calls = list(calls)
    delivery_ids, user_ids = set(), set()
    for call in calls:
        if call is None:
            continue
        name, args, kwargs = call
        if name == EMAIL_TASK:
            delivery_ids.add(parse_id(_pick(args, kwargs, 0, "delivery_id"), EmailDelivery))
        elif name == REPORT_TASK:
            user_ids.add(parse_id(_pick(args, kwargs, 0, "user_id"), get_user_model()))
    delivery_ids.discard(None)
    user_ids.discard(None)
    deliveries = (
        EmailDelivery.objects.select_related("user")
        .only(
            "to_email",
            "period",
            "resend_key",
            "status",
            "next_attempt_at",
            "sending_task_id",
            "user__username",
            "user__first_name",
            "user__last_name",
        )
        .in_bulk(delivery_ids)
        if delivery_ids
        else {}
    )
    users = (
        get_user_model().objects.only("username", "first_name", "last_name").in_bulk(user_ids)
        if user_ids
        else {}
    )
    return [_describe(call, deliveries, users) for call in calls]


def _pick(args: list, kwargs: dict, position: int, name: str):
    return args[position] if len(args) > position else kwargs.get(name)


def _describe(call, deliveries: dict, users: dict) -> Work:
    if call is None:
        return Work("?")
    name, args, kwargs = call
    if name == EMAIL_TASK:
        raw = _pick(args, kwargs, 0, "delivery_id")
        delivery = deliveries.get(parse_id(raw, EmailDelivery))
        if delivery is None:
            return Work(f"email {raw} (no such delivery)")
        about = [str(delivery.user)] if delivery.user else []
        about += [delivery.period] if delivery.period else []
        about += ["another copy"] if delivery.resend_key else []
        text = f"email {delivery.pk} to {delivery.to_email}"
        return Work(f"{text} ({', '.join(about)})" if about else text, delivery)
    if name == REPORT_TASK:
        raw = _pick(args, kwargs, 0, "user_id")
        user = users.get(parse_id(raw, get_user_model()))
        whom = str(user) if user else f"user {raw} (no such user)"
        text = f"report for {whom}, {_month(_pick(args, kwargs, 1, 'period'))}"
        return Work(text + (", another copy" if _pick(args, kwargs, 2, "resend_key") else ""))
    if name == MONTHLY_TASK:
        return Work(f"monthly reports for {_month(_pick(args, kwargs, 0, 'period'))}")
    return Work(_arguments(args, kwargs))


def _month(period) -> str:
    return str(period) if period else "the month before it ran"


def _arguments(args: list, kwargs: dict) -> str:
    shown = [json.dumps(arg) for arg in args]
    shown += [f"{name}={json.dumps(value)}" for name, value in kwargs.items()]
    return ", ".join(shown)


def why_handled(result: TaskResult, work: Work) -> str:
    """Why nobody needs to act on this failure (annotated by with_handling); "" if
    somebody does."""
    if result.retried_as_id:
        return f"retried as {result.retried_as_id} by {result.retried_by_name}"
    if result.email_moved_on:
        delivery = work.delivery
        if delivery is None:
            return "its email has moved on"
        if delivery.sending_task_id != result.task_id and delivery.status in (
            Status.FAILED,
            Status.UNCONFIRMED,
        ):
            return f"its email's latest attempt is task {delivery.sending_task_id}"
        return f"its email is now {delivery.get_status_display().lower()}"
    if result.report_built:
        return "its report was built since"
    if result.ran_again:
        return "it ran again successfully since"
    return ""
