"""Who and which month (apps.commission.report.request): a request with a malformed id or
resend key is refused cleanly, before any SQL."""

import pytest

from apps.commission.report.request import ReportRequestError, load_report_request
from tests.factories import TeamFactory


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", ["²", "\uff12", "2 "])
def test_a_report_for_a_non_ascii_id_is_refused_cleanly(user_id):
    TeamFactory(manager__id=2)
    with pytest.raises(ReportRequestError, match="whole number"):
        load_report_request(user_id, None)


@pytest.mark.django_db
@pytest.mark.parametrize("resend_key", ["", "a" * 65, "x:y", "../x", "a b", 12])
def test_a_malformed_resend_key_is_refused(resend_key):
    team = TeamFactory()
    with pytest.raises(ReportRequestError, match="resend key"):
        load_report_request(team.manager.pk, None, resend_key)
