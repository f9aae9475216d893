"""The report-request reconciler (apps.commission.reconcile): stalled requests are queued
again, once per stall and not forever; a refused one never."""

import pytest

from apps.commission import tasks as report_tasks
from apps.commission.models import ReportRequest
from apps.commission.periods import Period
from apps.commission.reconcile import MAX_REQUEUES, reconcile_report_requests
from apps.commission.services import request_report
from tests.factories import TeamFactory, UserFactory
from tests.support.owed_work import PERIOD, Recorder, ago


@pytest.mark.django_db
def test_a_refused_request_is_settled_and_never_queued_again(celery_eager, settings):
    settings.RECONCILE_STALLED_AFTER = 0
    no_email = TeamFactory(manager=UserFactory(username="nomail", email="")).manager
    request, _ = request_report(no_email, PERIOD, Recorder(), source=ReportRequest.Source.ADMIN)

    report_tasks.generate_and_send_commission_report.delay(no_email.pk, "2025-09")

    request.refresh_from_db()
    assert request.status == ReportRequest.Status.REFUSED
    assert "has no email address" in request.last_error
    assert reconcile_report_requests(Recorder()).requeued == []


@pytest.mark.django_db
def test_stalled_requests_are_queued_again_once_and_not_forever(maria, settings):
    settings.RECONCILE_STALLED_AFTER = 300
    lost, _ = request_report(maria, PERIOD, Recorder(), source=ReportRequest.Source.MONTHLY)
    again, _ = request_report(
        maria, PERIOD, Recorder(), source=ReportRequest.Source.COMMAND, resend=True
    )
    request_report(maria, Period(2025, 8), Recorder(), source="command")  # not overdue
    ReportRequest.objects.filter(pk__in=[lost.pk, again.pk]).update(queued_at=ago(301))
    first, second = Recorder(), Recorder()

    assert reconcile_report_requests(first).requeued == [lost.pk, again.pk]
    reconcile_report_requests(second)

    again.refresh_from_db()
    assert first.calls == [(maria.pk, "2025-09", None), (maria.pk, "2025-09", again.resend_key)]
    assert second.calls == []
    ReportRequest.objects.filter(pk=lost.pk).update(queued_at=ago(301), requeues=MAX_REQUEUES)
    assert reconcile_report_requests(Recorder()).requeued == []
