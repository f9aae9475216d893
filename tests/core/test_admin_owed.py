"""The admin's owed-work filter (core.admin_owed): the stalled report requests and email
deliveries, apart from those still moving."""

import pytest

from apps.commission.models import ReportRequest
from apps.commission.services import request_report
from tests.support.owed_work import PERIOD, Recorder, ago, new_delivery


@pytest.mark.django_db
def test_the_admin_lists_stalled_work_with_its_age(admin_client, maria, settings):
    settings.RECONCILE_STALLED_AFTER = 60
    new_delivery("stalled-one", next_attempt_at=ago(120))
    new_delivery("moving-one", next_attempt_at=ago(1))
    request, _ = request_report(maria, PERIOD, Recorder(), source="command")
    ReportRequest.objects.filter(pk=request.pk).update(queued_at=ago(120))

    deliveries = admin_client.get("/admin/mailing/emaildelivery/?owed=stalled")
    requests = admin_client.get("/admin/commission/reportrequest/?owed=stalled")

    assert deliveries.status_code == requests.status_code == 200
    assert deliveries.context["cl"].result_count == 1
    assert requests.context["cl"].result_count == 1
