"""The admin log as the record of operator writes (core.audit): one entry per row changed,
under the operator's name, whether the change came from the admin or from the shell."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from apps.commission.models import Team
from core.audit import log_changes
from tests.factories import TeamFactory, UserFactory


@pytest.mark.django_db
def test_each_row_gets_its_own_entry_under_the_operators_name():
    operator = UserFactory(username="operator")
    teams = [TeamFactory(name="North"), TeamFactory(name="South")]

    log_changes(operator, teams, "Status pending → approved.")

    entries = LogEntry.objects.order_by("object_id")
    assert [(e.object_id, e.object_repr) for e in entries] == [
        (str(team.pk), str(team)) for team in sorted(teams, key=lambda team: str(team.pk))
    ]
    assert {e.content_type for e in entries} == {ContentType.objects.get_for_model(Team)}
    assert {(e.user, e.action_flag, e.change_message) for e in entries} == {
        (operator, CHANGE, "Status pending → approved.")
    }


@pytest.mark.django_db
def test_nothing_changed_is_nothing_logged():
    log_changes(UserFactory(), [], "Status pending → approved.")

    assert not LogEntry.objects.exists()
