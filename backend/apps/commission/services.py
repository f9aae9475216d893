"""Writing commission data: team membership and deals with their commissions."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery

from .models import Commission, CommissionReport, Deal, Team, TeamMembership
from .money import commission_for, to_money
from .periods import Period
from .report import build_report, render_csv, render_html, render_text, report_subject


class CommissionDataError(ValueError):
    """A write that would make the commission data inconsistent."""


def membership_on(rep, day: dt.date) -> TeamMembership | None:
    """The rep's membership on that day, if any."""
    return (
        TeamMembership.objects.select_related("team")
        .filter(rep=rep, joined_on__lte=day)
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=day))
        .first()
    )


@transaction.atomic
def join_team(
    rep, team: Team, joined_on: dt.date, rate_override: Decimal | None = None
) -> TeamMembership:
    """Move a rep into a team from `joined_on`, closing the open membership the day before.

    History is kept: a rep is in at most one team at a time, and periods never overlap.
    """
    open_membership = (
        TeamMembership.objects.select_for_update().filter(rep=rep, left_on__isnull=True).first()
    )
    if open_membership:
        if open_membership.joined_on >= joined_on:
            raise CommissionDataError(
                f"{rep} joined {open_membership.team} on {open_membership.joined_on}; "
                f"cannot join {team} on {joined_on}"
            )
        open_membership.left_on = joined_on - dt.timedelta(days=1)
        open_membership.save(update_fields=["left_on"])
    if TeamMembership.objects.filter(rep=rep, left_on__gte=joined_on).exists():
        raise CommissionDataError(f"{rep} already has a membership after {joined_on}")
    return TeamMembership.objects.create(
        team=team,
        rep=rep,
        joined_on=joined_on,
        rate_override=None if rate_override is None else to_money(rate_override),
    )


@transaction.atomic
def record_deal(
    *,
    rep,
    amount: Decimal | str,
    closed_on: dt.date,
    external_ref: str,
    currency: str | None = None,
    status: str = Commission.Status.PENDING,
) -> Deal:
    """Record a closed deal and the commission it earns the rep.

    The team and the rate come from the rep's membership on the closing day: the
    rep's own override when set, the team's rate otherwise.
    """
    currency = (currency or settings.COMMISSION_CURRENCY).upper()
    if currency != settings.COMMISSION_CURRENCY:
        raise CommissionDataError(
            f"deal {external_ref} is in {currency}; this deployment records "
            f"{settings.COMMISSION_CURRENCY} only"
        )
    amount = to_money(amount)
    if amount < 0:
        raise CommissionDataError(f"deal {external_ref} has a negative amount: {amount}")
    if Deal.objects.filter(external_ref=external_ref).exists():
        raise CommissionDataError(f"deal {external_ref} is already recorded")
    membership = membership_on(rep, closed_on)
    if membership is None:
        raise CommissionDataError(f"{rep} was in no team on {closed_on}")

    deal = Deal.objects.create(
        rep=rep,
        team=membership.team,
        amount=amount,
        currency=currency,
        closed_on=closed_on,
        external_ref=external_ref,
    )
    rate = membership.effective_rate
    Commission.objects.create(
        deal=deal,
        rep=rep,
        amount=commission_for(amount, rate),
        rate=rate,
        status=status,
        earned_on=closed_on,
    )
    return deal


def report_idempotency_key(manager, period: Period, resend_key: str | None = None) -> str:
    key = f"commission-report:{manager.pk}:{period}"
    return f"{key}:resend:{resend_key}" if resend_key else key


@transaction.atomic
def prepare_report_email(
    manager, period: Period, resend_key: str | None = None
) -> tuple[CommissionReport, EmailDelivery]:
    """Build, store and render the manager's report; record the email that carries it.

    One stored report and one delivery per manager and period, however often this
    runs; once the email has left, neither changes again. An operator who wants
    another copy passes a new `resend_key`: each key is one more email, once.
    """
    key = report_idempotency_key(manager, period, resend_key)
    sent = EmailDelivery.objects.filter(idempotency_key=key, status__in=EmailDelivery.LEFT).first()
    if sent is not None:
        return CommissionReport.objects.get(manager=manager, period=str(period)), sent

    report = build_report(manager, period)
    subject = report_subject(report)
    body_text = render_text(report)
    body_html = render_html(report)
    stored, _ = CommissionReport.objects.update_or_create(
        manager=manager,
        period=str(period),
        defaults={
            "subject": subject,
            "body_text": body_text,
            "body_html": body_html,
            "data": report.as_dict(),
        },
    )
    delivery, _ = create_delivery(
        idempotency_key=key,
        to_email=manager.email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        attachments=[
            {
                "filename": f"commission-report-{period}.csv",
                "content": render_csv(report),
                "mimetype": "text/csv",
            }
        ],
        metadata={"manager_id": str(manager.pk), "period": str(period)},
    )
    return stored, delivery
