"""Records that stop a second email or prove who did what stay: nobody deletes email
deliveries, report requests, stored reports or users from the admin, not even a
superuser, and deleting a manager is refused rather than taking them along."""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.urls import reverse

from apps.commission.models import CommissionReport, ReportRequest, Team
from apps.commission.periods import Period
from apps.commission.services import prepare_report_email, request_report
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

PERIOD = Period(2025, 9)
KEPT = [EmailDelivery, ReportRequest, CommissionReport]


@pytest.fixture
def manager():
    """A manager with a stored report, its email and a report request."""
    team = TeamFactory()
    add_rep(team)
    prepare_report_email(team.manager, PERIOD)
    request_report(team.manager, PERIOD, lambda *args: None, source="admin")
    return team.manager


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", KEPT, ids=lambda model: model.__name__)
def test_not_even_a_superuser_deletes_them(admin_client, manager, model):
    row = model.objects.get()

    assert "delete_selected" not in offered_actions(admin_client, url(model, "changelist"))
    assert admin_client.get(url(model, "delete", row.pk)).status_code == 403
    assert admin_client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    admin_client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk]}
    )
    assert model.objects.filter(pk=row.pk).exists()
    change = admin_client.get(url(model, "change", row.pk)).context
    assert not change["has_change_permission"] and not change["has_delete_permission"]


@pytest.mark.parametrize("model", KEPT, ids=lambda model: model.__name__)
def test_view_only_sees_no_save_and_no_delete(client, manager, model):
    client.force_login(staff_user(f"{model._meta.app_label}.view_{model._meta.model_name}"))
    row = model.objects.get()

    page = client.get(url(model, "change", row.pk))

    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    assert 'name="_save"' not in page.content.decode()
    assert url(model, "delete", row.pk) not in page.content.decode()
    assert offered_actions(client, url(model, "changelist")) == set()


def test_deleting_their_manager_is_refused_and_takes_nothing(admin_client, manager):
    # No longer a manager: only the history ties them to the reports.
    Team.objects.update(manager=UserFactory(username="successor"))
    users = url(get_user_model(), "changelist")

    # Nobody deletes a user in the admin (their log entries would go with them) ...
    answer = admin_client.post(url(get_user_model(), "delete", manager.pk), {"post": "yes"})
    assert answer.status_code == 403
    assert "delete_selected" not in offered_actions(admin_client, users)
    # ... and the database refuses it too, for a manager with reports.
    with pytest.raises(ProtectedError):
        manager.delete()
    assert get_user_model().objects.filter(pk=manager.pk).exists()
    assert CommissionReport.objects.filter(manager=manager).count() == 1
    assert ReportRequest.objects.filter(manager=manager).count() == 1
