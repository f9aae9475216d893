"""The commission's commands: send_commission_report refuses a bad request before queuing,
says what was already sent, and records the request when the broker is away;
reconcile_owed_work reconciles both kinds of owed work; seed_demo. (Queued on real
workers: tests/integration/test_commands.py.)"""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from kombu.exceptions import OperationalError as BrokerError

from apps.commission import tasks as report_tasks
from apps.commission.models import Commission, Deal, ReportRequest, Team, TeamMembership
from apps.commission.services import request_report
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.commands import call
from tests.support.owed_work import PERIOD, Recorder, ago, new_delivery
from tests.support.reports import email_the_report


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--manager", "nobody"], "No user matches 'nobody'"),
        (["--manager", "rep"], "manages no team"),
        (["--manager", "boss", "--period", "2025-9"], "YYYY-MM"),
        # Ids beyond the id column (64 bits) are no ids; within it, nobody has them.
        (["--manager", str(2**31)], f"No user matches '{2**31}'"),
        (["--manager", str(2**63 - 1)], f"No user matches '{2**63 - 1}'"),
        (["--manager", str(2**63)], f"No user matches '{2**63}'"),
        (["--manager", str(10**30)], f"No user matches '{10**30}'"),
    ],
)
def test_send_commission_report_refuses_bad_requests_before_queueing(arguments, message):
    add_rep(TeamFactory(manager=UserFactory(username="boss")), username="rep")

    with pytest.raises(CommandError, match=message):
        call("send_commission_report", *arguments)


@pytest.mark.django_db
def test_send_commission_report_refuses_an_ambiguous_email():
    TeamFactory(manager=UserFactory(username="a", email="same@example.com"))
    UserFactory(username="b", email="SAME@example.com")

    with pytest.raises(CommandError, match="Several users"):
        call("send_commission_report", "--manager", "same@example.com")


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_admin_login():
    output = call("seed_demo")
    counts = [
        model.objects.count()
        for model in (get_user_model(), Team, TeamMembership, Deal, Commission)
    ]
    again = call("seed_demo")

    assert "Admin login: admin / commission-demo" in output
    assert "(0 new deals)" in again
    assert counts == [
        model.objects.count()
        for model in (get_user_model(), Team, TeamMembership, Deal, Commission)
    ]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("commission-demo")
    assert Team.objects.count() >= 3 and counts[3] > 100
    # Every manager has a team of several reps, and one rep moved team (history kept).
    assert all(team.memberships.count() >= 3 for team in Team.objects.all())
    assert TeamMembership.objects.filter(left_on__isnull=False).exists()


@pytest.mark.django_db
def test_seed_demo_over_a_demo_seeded_with_less_history_still_runs(monkeypatch):
    from apps.commission.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "MONTHS_OF_HISTORY", 4)
    call("seed_demo")
    monkeypatch.undo()

    again = call("seed_demo")

    assert "Admin login" in again
    first_joined = TeamMembership.objects.order_by("joined_on").first().joined_on
    assert not Deal.objects.filter(closed_on__lt=first_joined).exists()


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="not in production"):
        call("seed_demo")


@pytest.mark.django_db(transaction=True)
def test_the_command_records_the_request_and_says_so_when_the_broker_is_away(maria, monkeypatch):
    def broker_away(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(report_tasks.generate_and_send_commission_report, "delay", broker_away)
    out, err = StringIO(), StringIO()

    call_command("send_commission_report", "--manager", "maria", stdout=out, stderr=err)

    request = ReportRequest.objects.get()
    assert request.source == ReportRequest.Source.COMMAND
    assert request.status == ReportRequest.Status.QUEUED
    assert f"as request {request.pk}, but the Celery broker is unreachable" in err.getvalue()
    assert "the reconciler queues it" in err.getvalue()


@pytest.mark.django_db
def test_the_command_reconciles_both_kinds_and_dry_run_changes_nothing(maria, settings):
    settings.RECONCILE_STALLED_AFTER = 60
    request, _ = request_report(maria, PERIOD, Recorder(), source="command")
    ReportRequest.objects.filter(pk=request.pk).update(queued_at=ago(61))
    delivery = new_delivery(next_attempt_at=ago(61))
    out = StringIO()

    call_command("reconcile_owed_work", "--dry-run", stdout=out)

    assert f"report requests: would queue again 1 [{request.pk}]" in out.getvalue()
    assert f"email deliveries: would queue again 1 [{delivery.pk}]" in out.getvalue()
    assert ReportRequest.objects.get(pk=request.pk).requeues == 0


@pytest.mark.django_db
def test_the_command_says_already_sent_and_queues_nothing(maria_team, monkeypatch):
    delivery = email_the_report(maria_team)
    queued = []
    monkeypatch.setattr(
        "apps.commission.tasks.generate_and_send_commission_report.delay",
        lambda *args: queued.append(args),
    )
    out = StringIO()

    call_command("send_commission_report", "--manager", "maria", stdout=out)

    assert f"was already sent (email delivery {delivery.pk}, Sent" in out.getvalue()
    assert "Use --resend to email another copy." in out.getvalue()
    assert queued == []
    assert not ReportRequest.objects.exists()


@pytest.mark.django_db
def test_send_commission_report_refuses_a_manager_whose_address_is_invalid():
    boss = UserFactory(username="boss", first_name="Daniel", last_name="Brooks")
    add_rep(TeamFactory(manager=boss))
    get_user_model().objects.filter(pk=boss.pk).update(email="daniel at example")

    with pytest.raises(CommandError, match=r"Daniel Brooks \(boss\) has no valid email address"):
        call("send_commission_report", "--manager", "boss")

    assert not ReportRequest.objects.exists()


@pytest.mark.django_db
def test_seed_demo_prints_the_managers_addresses_as_stored_and_names_an_invalid_one():
    call("seed_demo")
    users = get_user_model().objects
    users.filter(username="maria").update(email="maria.ivanova@example.com")
    users.filter(username="daniel").update(email="daniel at example")
    errors = StringIO()

    output = StringIO()
    call_command("seed_demo", stdout=output, stderr=errors)

    assert (
        "Managers: daniel <daniel at example>, maria <maria.ivanova@example.com>, "
        "olga <olga@example.com>" in output.getvalue()
    )
    assert "Reports for daniel are refused: Daniel Brooks (daniel) has no valid email address" in (
        errors.getvalue()
    )
