"""Who a report is for and which month: checked before anything is built or sent."""

import functools
import re

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection

from apps.mailing.addresses import user_address_error
from core.model_sql import Table, select_list
from core.validators import id_error, parse_id

from ..models import Team
from ..periods import InvalidPeriod, Period, month_to_date, parse_period


class ReportRequestError(ValueError):
    """A report that cannot be made from what was asked; retrying will not help."""


# What an operator's "another copy" key may be: it becomes part of the delivery's key.
RESEND_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")

# One query for both questions: who, and do they manage a team. Written out: the ORM
# takes longer to build its Exists() annotation than the database takes to run it.
MANAGER_SQL = """
    SELECT {columns},
           EXISTS (SELECT 1 FROM {t} t WHERE t.{t.manager} = u.{u.pk}) AS manages_a_team
    FROM {u} u
    WHERE u.{u.pk} = %s
"""


@functools.cache
def _manager_statement(alias: str) -> str:
    user = get_user_model()
    return MANAGER_SQL.format(
        columns=select_list(user, prefix="u.", using=alias),
        t=Table(Team, alias),
        u=Table(user, alias),
    )


def load_report_request(
    user_id, period: str | None, resend_key: str | None = None
) -> tuple[AbstractBaseUser, Period]:
    """Check who the report is for and which month; return (manager, period).

    Raises ReportRequestError with a message an operator can act on.
    """
    try:
        month = parse_period(period)
    except InvalidPeriod as exc:
        raise ReportRequestError(str(exc)) from exc
    if resend_key is not None and not (
        isinstance(resend_key, str) and RESEND_KEY.fullmatch(resend_key)
    ):
        raise ReportRequestError(
            f"resend key must be 1 to 64 letters, digits, '-' or '_', got {resend_key!r}"
        )
    user = get_user_model()
    manager_id = parse_id(user_id, user)
    if manager_id is None:
        raise ReportRequestError(id_error("user id", user_id, user))
    sql = _manager_statement(connection.alias)
    manager = next(iter(user.objects.raw(sql, [manager_id])), None)
    if manager is None:
        raise ReportRequestError(f"no user with id {user_id}")
    if not manager.manages_a_team:
        raise ReportRequestError(f"user {manager.username} (id {manager.pk}) manages no team")
    # An address set outside the admin's form (the shell, an import) is checked here,
    # before anything is built: the request is refused with words that name the manager.
    problem = user_address_error(manager)
    if problem:
        raise ReportRequestError(problem)
    return manager, month


def report_idempotency_key(manager, period: Period, resend_key: str | None = None) -> str:
    """One email per manager and closed month; a report of the month in progress is
    month-to-date, one a day, and never uses up the month's own email."""
    key = f"commission-report:{manager.pk}:{period}"
    as_of = month_to_date(period)
    if as_of is not None:
        key += f":to-date:{as_of.isoformat()}"
    return f"{key}:resend:{resend_key}" if resend_key else key
