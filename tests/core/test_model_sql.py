"""Hand-written SQL takes its names from the models' `_meta` and its value lists as
parameters (core.model_sql)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from apps.commission.models import Team
from apps.mailing.models import EmailDelivery
from core.model_sql import Table, in_list, select_list

Status = EmailDelivery.Status


def test_a_table_names_its_table_and_columns_quoted():
    quote = connection.ops.quote_name
    team = Table(Team)

    assert str(team) == f"{team}" == quote("commission_team")
    assert team.manager == quote("manager_id")  # a foreign key's column, not its name
    assert team.pk == team.id == quote("id")
    template = "UPDATE {t} SET {t.name} = %s"  # as the statements use them
    assert template.format(t=team) == 'UPDATE "commission_team" SET "name" = %s'


@pytest.mark.parametrize("name", ["no_such_field", "memberships", "_meta_missing"])
def test_a_name_that_is_no_column_is_refused(name):
    """A typo, or a reverse relation (no column of this table), fails when the statement
    is built, not as SQL at run time."""
    with pytest.raises(AttributeError):
        getattr(Table(Team), name)


def test_a_select_list_names_every_column_of_the_model():
    user = get_user_model()
    quote = connection.ops.quote_name

    columns = select_list(user, prefix="u.").split(", ")

    assert columns == [f"u.{quote(field.column)}" for field in user._meta.concrete_fields]
    assert "*" not in "".join(columns)


def test_an_in_list_is_parameters_in_a_stable_order():
    first = in_list("gone", {Status.SENT, Status.BOUNCED, Status.DELIVERED})
    second = in_list("gone", [Status.DELIVERED, Status.SENT, Status.BOUNCED])

    assert (
        first
        == second
        == (
            "%(gone_0)s, %(gone_1)s, %(gone_2)s",
            {"gone_0": "bounced", "gone_1": "delivered", "gone_2": "sent"},
        )
    )
    assert all(type(value) is str for value in first[1].values())
    with pytest.raises(ValueError, match="at least one"):
        in_list("none", [])
