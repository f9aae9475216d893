"""The report task: called, it forms the manager's report and "sends" the email; it settles
its report requests, leaves the email owed when the broker is away, and refuses an id
that is no id cleanly."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.commission import tasks
from apps.commission.models import CommissionReport, ReportRequest
from apps.commission.periods import Period
from apps.commission.report.request import ReportRequestError
from apps.commission.services import record_deal, request_report
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.ids import HUGE_IDS
from tests.support.owed_work import PERIOD, Recorder

Status = EmailDelivery.Status

pytestmark = pytest.mark.django_db

TASK = tasks.generate_and_send_commission_report


@pytest.fixture
def team():
    manager = UserFactory(username="maria", first_name="Maria", last_name="Ivanova")
    return TeamFactory(name="North", manager=manager, commission_rate=Decimal("8"))


def run(*args, **kwargs):
    return TASK.delay(*args, **kwargs)


def test_task_forms_the_report_and_emails_the_manager(
    celery_eager, team, django_capture_on_commit_callbacks
):
    ann = add_rep(team, first_name="Ann", last_name="Lee")
    bob = add_rep(team, first_name="Bob", last_name="Ray")
    amounts = {ann: ["1999.99", "0.06"], bob: ["12345.67"]}
    for rep, values in amounts.items():
        for number, amount in enumerate(values):
            record_deal(
                rep=rep,
                amount=amount,
                closed_on=dt.date(2025, 9, 10),
                external_ref=f"{rep.username}-{number}",
            )
    # Independently of the code under test: 8% of each deal, rounded half-up per deal.
    expected = {
        rep: sum(
            (Decimal(a) * Decimal("0.08")).quantize(Decimal("0.01"), "ROUND_HALF_UP")
            for a in values
        )
        for rep, values in amounts.items()
    }

    with django_capture_on_commit_callbacks(execute=True):
        result = run(team.manager.pk, "2025-09")

    assert result.successful(), result.traceback
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["maria@example.com"]
    assert message.subject == "Commission report 2025-09: North"
    assert "Ann Lee" in message.body and "Bob Ray" in message.body
    assert f"{expected[ann]:,.2f}" in message.body
    # Ann's two deals earn 159.9992 and 0.0048, each rounded half-up: 160.00 in all.
    ann_line = next(line for line in message.body.splitlines() if line.startswith("Ann Lee"))
    assert "160.00" in ann_line
    assert f"{expected[bob]:,.2f}" in message.body
    total = expected[ann] + expected[bob]
    assert f"Total commission: {total:,.2f} USD\n  on 3 deals" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Ann Lee" in html
    assert [name for name, _, _ in message.attachments] == [
        "commission-report-2025-09.csv",
        "commission-deals-2025-09.csv",
    ]

    delivery = EmailDelivery.objects.get()
    assert delivery.status == EmailDelivery.Status.SENT
    stored = CommissionReport.objects.get(manager=team.manager, period="2025-09")
    assert stored.data["totals"]["commission"] == str(total)
    assert stored.attachments == delivery.attachments
    assert stored.body_html == delivery.body_html == html
    assert result.result == {
        "report_id": stored.pk,
        "delivery_id": delivery.pk,
        "period": "2025-09",
        "email": "queued",
    }


def test_period_defaults_to_last_month(celery_eager, team, django_capture_on_commit_callbacks):
    add_rep(team)
    with django_capture_on_commit_callbacks(execute=True):
        result = run(team.manager.pk)

    # The code's "today" (TIME_ZONE), not the machine's: they differ around midnight.
    last_month = str(Period.containing(timezone.localdate()).previous())
    assert result.result["period"] == last_month
    assert mail.outbox[0].subject == f"Commission report {last_month}: North"


def test_a_second_run_sends_nothing_more(celery_eager, team, django_capture_on_commit_callbacks):
    add_rep(team)
    with django_capture_on_commit_callbacks(execute=True):
        first = run(team.manager.pk, "2025-09")
    with django_capture_on_commit_callbacks(execute=True):
        second = run(team.manager.pk, "2025-09")
    with django_capture_on_commit_callbacks(execute=True):
        resent = run(team.manager.pk, "2025-09", resend_key="operator-request-1")

    assert first.result["email"] == "queued"
    assert second.result["email"] == "already-sent"
    assert resent.result["email"] == "queued"
    assert len(mail.outbox) == 2  # the original and the one explicit resend
    assert EmailDelivery.objects.count() == 2
    assert CommissionReport.objects.count() == 1


def test_once_the_email_has_left_its_report_stays_as_sent(
    celery_eager, team, django_capture_on_commit_callbacks
):
    rep = add_rep(team, first_name="Ann", last_name="Lee")
    with django_capture_on_commit_callbacks(execute=True):
        run(team.manager.pk, "2025-09")
    sent_report, sent_delivery = CommissionReport.objects.get(), EmailDelivery.objects.get()
    # A deal recorded late for that month: the report built now would differ.
    record_deal(rep=rep, amount="1000", closed_on=dt.date(2025, 9, 30), external_ref="LATE-1")

    with django_capture_on_commit_callbacks(execute=True):
        again = run(team.manager.pk, "2025-09")

    assert again.result == {
        "report_id": sent_report.pk,
        "delivery_id": sent_delivery.pk,
        "period": "2025-09",
        "email": "already-sent",
    }
    report, delivery = CommissionReport.objects.get(), EmailDelivery.objects.get()
    assert (report.body_text, report.data) == (sent_report.body_text, sent_report.data)
    assert (delivery.body_text, delivery.attachments) == (
        sent_delivery.body_text,
        sent_delivery.attachments,
    )
    assert "1,000.00" not in report.body_text
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown-user", "no user with id 999999"),
        ("not-a-manager", "manages no team"),
        ("no-email", "has no email address"),
        ("bad-period", "period must be a month written YYYY-MM"),
        ("future-period", "is in the future"),
        ("bad-user-id", "user id must be a whole number"),
    ],
)
def test_bad_input_fails_at_once_with_a_clear_logged_error(
    celery_eager, team, case, message, monkeypatch, caplog
):
    rep = add_rep(team)
    args = {
        "unknown-user": (999999, "2025-09"),
        "not-a-manager": (rep.pk, "2025-09"),
        "no-email": (team.manager.pk, "2025-09"),
        "bad-period": (team.manager.pk, "2025/09"),
        "future-period": (team.manager.pk, "2999-01"),
        "bad-user-id": ("maria", "2025-09"),
    }[case]
    if case == "no-email":
        team.manager.email = ""
        team.manager.save()
    calls = []
    original = tasks.load_report_request
    monkeypatch.setattr(tasks, "load_report_request", lambda *a: calls.append(a) or original(*a))

    with caplog.at_level(logging.ERROR, logger="apps.commission.tasks"):
        result = run(*args)

    assert result.failed()
    assert isinstance(result.result, ReportRequestError)
    assert message in str(result.result)
    assert len(calls) == 1  # not retried
    assert any(message in record.getMessage() for record in caplog.records)
    assert not EmailDelivery.objects.exists()
    assert not mail.outbox


def test_the_report_task_settles_its_requests_and_a_broker_away_leaves_the_email_owed(
    celery_eager, maria, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    request, _ = request_report(maria, PERIOD, Recorder(), source=ReportRequest.Source.ADMIN)

    def broker_away(*args, **kwargs):
        raise BrokerError("Connection refused.")

    monkeypatch.setattr(tasks, "queue_email", broker_away)
    with (
        caplog.at_level(logging.WARNING, logger="core.enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        outcome = tasks.generate_and_send_commission_report.delay(maria.pk, "2025-09").get()

    request.refresh_from_db()
    assert request.status == ReportRequest.Status.BUILT
    assert request.delivery_id == outcome["delivery_id"]
    assert outcome["email"] in {"owed", "queued"}  # queued when the callback ran at commit
    assert f"Could not queue email delivery {outcome['delivery_id']}" in caplog.text
    delivery = EmailDelivery.objects.get(pk=outcome["delivery_id"])
    assert delivery.status == Status.QUEUED


@pytest.mark.parametrize("user_id", HUGE_IDS, ids=str)
def test_a_report_for_a_huge_id_is_refused_cleanly(celery_eager, user_id, caplog):
    """No OverflowError (SQLite) or DataError (PostgreSQL): 2**31 fits our 64-bit ids and
    is simply nobody; the others are refused before any SQL."""
    TeamFactory()

    result = TASK.delay(user_id, "2025-09")

    assert result.failed()
    assert isinstance(result.result, ReportRequestError), repr(result.result)
    expected = "no user with id" if user_id == 2**31 else "must be a whole number from 1 to"
    assert expected in str(result.result)
    assert "Traceback" not in caplog.text


def test_a_manager_with_an_invalid_address_is_refused_by_name_and_nothing_is_queued(
    celery_eager, team
):
    add_rep(team)
    # Set outside the admin's form, which would have refused it.
    type(team.manager).objects.filter(pk=team.manager.pk).update(email="maria at example")
    request, _ = request_report(team.manager, PERIOD, Recorder(), source="admin")

    result = run(team.manager.pk, str(PERIOD))

    expected = (
        "Maria Ivanova (maria) has no valid email address ('maria at example'); "
        "correct it under Users in the admin"
    )
    assert result.failed() and str(result.result) == expected
    request.refresh_from_db()
    assert (request.status, request.last_error) == (ReportRequest.Status.REFUSED, expected)
    assert not EmailDelivery.objects.exists()
    assert not mail.outbox
