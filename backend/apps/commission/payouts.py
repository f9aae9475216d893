"""Approving commissions and marking them paid: the only way a commission's status moves.

Forward only, one step at a time: pending -> approved -> paid. Paying needs an
approval first, so the two permissions are two decisions (perhaps two people's),
and nothing ever moves back. Each move is recorded in the admin log under the name
of whoever made it, from the admin or from the shell alike.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet

from core.audit import log_changes

from .models import Commission
from .money import ZERO

Status = Commission.Status
FORWARD = [Status.PENDING, Status.APPROVED, Status.PAID]


@dataclass(frozen=True)
class Step:
    """One forward move of a commission's status, and the permission it takes."""

    source: str
    target: str
    permission: str
    done: str  # as messages say it: "3 commission(s) approved"


APPROVE = Step(Status.PENDING, Status.APPROVED, "commission.approve_commission", "approved")
PAY = Step(Status.APPROVED, Status.PAID, "commission.pay_commission", "marked paid")


@dataclass
class Moves:
    """The commissions a step moved (or, planned, would move), and why it left the rest."""

    step: Step
    moved: list[Commission] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "DEAL-3 (already paid)"

    @property
    def total(self) -> Decimal:
        return sum((commission.amount for commission in self.moved), ZERO)


def plan(step: Step, commissions: QuerySet[Commission]) -> Moves:
    """What `move` would do to these commissions as they are now; writes nothing."""
    moves = Moves(step)
    for commission in commissions.select_related("deal", "rep").order_by("deal__external_ref"):
        if commission.status == step.source:
            moves.moved.append(commission)
        else:
            moves.refused.append(_refusal(step, commission))
    return moves


@transaction.atomic
def move(step: Step, commissions: QuerySet[Commission], *, by) -> Moves:
    """Move the commissions that are at the step's source status to its target, as the
    user `by` (who needs the step's permission); leave the others, saying why."""
    if not by.has_perm(step.permission):
        raise PermissionDenied(
            f"{by.get_username()} may not have commissions {step.done}: "
            f"that takes the {step.permission} permission"
        )
    planned = plan(step, commissions)
    done = Moves(step, refused=planned.refused)
    for commission in planned.moved:
        # Compare-and-set on the status: of two operators moving one commission at
        # once, the second finds it moved (its UPDATE waits for the first to commit).
        if Commission.objects.filter(pk=commission.pk, status=step.source).update(
            status=step.target
        ):
            commission.status = step.target
            done.moved.append(commission)
        else:
            commission.refresh_from_db(fields=["status"])
            done.refused.append(_refusal(step, commission))
    log_changes(by, done.moved, f"Status {step.source} → {step.target}.")
    return done


def approve_commissions(commissions: QuerySet[Commission], *, by) -> Moves:
    """Approve the pending ones; needs commission.approve_commission."""
    return move(APPROVE, commissions, by=by)


def pay_commissions(commissions: QuerySet[Commission], *, by) -> Moves:
    """Mark the approved ones paid; needs commission.pay_commission."""
    return move(PAY, commissions, by=by)


def _refusal(step: Step, commission: Commission) -> str:
    if FORWARD.index(commission.status) >= FORWARD.index(step.target):
        why = f"already {commission.status}"
    else:
        why = f"{commission.status}, approve it first"
    return f"{commission.deal.external_ref} ({why})"
