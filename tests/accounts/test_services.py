"""Changing a user's address (apps.accounts.services): behind the permission to change
users, checked like every address that enters, and the emails still owed to them follow."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from apps.accounts.services import change_email
from apps.mailing.models import EmailDelivery
from apps.mailing.services import create_delivery
from tests.factories import UserFactory
from tests.support.admin import staff_user
from tests.support.owed_work import Recorder

pytestmark = pytest.mark.django_db


def test_the_accounts_service_checks_the_permission_and_the_address():
    boss = UserFactory(username="boss", first_name="Maria", last_name="Ivanova")
    create_delivery(
        idempotency_key="test:owed", to_email=boss.email, subject="S", body_text="B", user=boss
    )

    with pytest.raises(PermissionDenied, match=r"accounts\.change_user"):
        change_email(boss, "maria@example.com", by=staff_user(), enqueue=Recorder())
    ops = staff_user("accounts.change_user")
    with pytest.raises(ValidationError, match=r"Maria Ivanova \(boss\) has no valid email"):
        change_email(boss, "maria at example", by=ops, enqueue=Recorder())
    assert get_user_model().objects.get(pk=boss.pk).email == "boss@example.com"

    done = change_email(boss, " maria@EXAMPLE.com ", by=ops, enqueue=Recorder())

    assert get_user_model().objects.get(pk=boss.pk).email == "maria@example.com"
    assert EmailDelivery.objects.get(pk=done.readdressed[0]).to_email == "maria@example.com"
