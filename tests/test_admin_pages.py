import pytest
from django.contrib import admin
from django.urls import reverse

from apps.commission.models import Team
from tests.factories import TeamFactory, add_rep

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    from apps.commission.services import record_deal

    team = TeamFactory(name="North")
    rep = add_rep(team)
    record_deal(rep=rep, amount="100", closed_on=team.created_at.date(), external_ref="ADM-1")
    return team


@pytest.mark.parametrize(
    "model",
    [m for m in admin.site._registry if m._meta.app_label in {"accounts", "commission", "mailing"}],
    ids=lambda m: m._meta.label,
)
def test_every_project_admin_page_renders(admin_client, data, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    obj = model._default_manager.first()
    if obj is not None:
        change = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )
        assert change.status_code == 200


def test_team_action_queues_last_months_report(
    admin_client, data, celery_eager, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:commission_team_changelist"),
            {"action": "send_last_month_report", "_selected_action": [data.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Queued the" in response.content.decode()
    assert [message.to for message in mailoutbox] == [[data.manager.email]]
    assert Team.objects.count() == 1
