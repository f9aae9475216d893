"""Input checks (core.validators): ids are plain ASCII digits within the id column's range,
and names are plain text on one line."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection

from apps.commission.models import Team
from apps.mailing.models import EmailDelivery
from core.validators import largest_id, parse_id
from tests.factories import UserFactory
from tests.support.ids import BIGINT_MAX


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        ("7", 7),
        ("²", None),
        ("\uff12", None),
        ("7 ", None),
        ("-1", None),
        (True, None),
        (0, None),
        ("", None),
        (None, None),
        ("1" * 30, None),
        (3.0, None),
        (BIGINT_MAX, BIGINT_MAX),
        (str(BIGINT_MAX), BIGINT_MAX),
        (BIGINT_MAX + 1, None),
        (str(BIGINT_MAX + 1), None),
        (10**30, None),
        ("9" * 20, None),
    ],
)
def test_ids_are_plain_ascii_digits_the_id_column_holds(value, expected):
    assert parse_id(value, EmailDelivery) == expected


def test_the_largest_id_is_the_columns_own_on_this_database():
    """Asked of the database for the field's type, not written down: our models use
    BigAutoField; django.contrib.auth's Group keeps AutoField, 32 bits on PostgreSQL."""
    assert largest_id(EmailDelivery) == BIGINT_MAX
    assert largest_id(get_user_model()) == BIGINT_MAX
    if connection.vendor == "postgresql":
        assert largest_id(Group) == 2**31 - 1
        assert parse_id(2**31, Group) is None
    else:  # SQLite stores every integer in up to 64 bits
        assert largest_id(Group) == BIGINT_MAX
        assert parse_id(2**31, Group) == 2**31


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["North\r\nBcc: all@example.com", "Tab\tname", "\u202egnp.exe", "a\u2066b"]
)
def test_names_with_control_or_bidi_characters_are_refused(admin_client, name):
    manager = UserFactory(username="names")
    with pytest.raises(ValidationError, match="plain text on one line"):
        Team(name=name, manager=manager, commission_rate=5).full_clean()
    with pytest.raises(ValidationError, match="plain text on one line"):
        manager.first_name = name
        manager.full_clean()

    response = admin_client.post(
        "/admin/commission/team/add/",
        {
            "name": name,
            "manager": manager.pk,
            "commission_rate": "5",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "plain text on one line" in response.content.decode()
    assert not Team.objects.filter(manager=manager).exists()
