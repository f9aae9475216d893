"""What a newcomer and an operator meet first: commands and admin actions that say what
will really happen."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.commission.models import ReportRequest
from apps.commission.periods import default_period
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    team = TeamFactory(manager=UserFactory(username="maria"))
    add_rep(team)
    return team


def email_the_report(team) -> EmailDelivery:
    """The month's report, built and sent, as the worker leaves it."""
    from apps.commission.services import prepare_report_email
    from apps.mailing.claims import record_sent

    _, delivery = prepare_report_email(team.manager, default_period())
    record_sent(delivery.pk, "sent-message-id")
    return delivery


def test_the_command_says_already_sent_and_queues_nothing(team, monkeypatch):
    delivery = email_the_report(team)
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


def test_the_team_action_says_already_sent_and_another_copy_asks_first(
    admin_client, team, monkeypatch, django_capture_on_commit_callbacks
):
    email_the_report(team)
    queued = []
    monkeypatch.setattr(
        "apps.commission.tasks.generate_and_send_commission_report.delay",
        lambda *args: queued.append(args),
    )
    changelist = reverse("admin:commission_team_changelist")

    answer = admin_client.post(
        changelist, {"action": "send_last_month_report", "_selected_action": [team.pk]}, follow=True
    )
    assert "already sent to maria" in answer.content.decode()
    assert queued == []

    asked = admin_client.post(
        changelist, {"action": "send_another_copy", "_selected_action": [team.pk]}
    )
    assert asked.status_code == 200
    assert "maria &lt;maria@example.com&gt; (already sent)" in asked.content.decode()
    assert queued == []

    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(
            changelist,
            {
                "action": "send_another_copy",
                "_selected_action": [team.pk],
                "confirm_another_copy": "yes",
            },
            follow=True,
        )
    assert "Queued another copy of the" in done.content.decode()
    ((manager_id, period, resend_key),) = queued
    assert (manager_id, period) == (team.manager_id, str(default_period()))
    assert resend_key


# RENDERING
# ------------------------------------------------------------------------------


def test_an_empty_team_reads_header_then_note_and_html_has_the_all_teams_table():
    from apps.commission.report.figures import build_report
    from apps.commission.report.render import render_html, render_text

    manager = UserFactory(username="two-teams")
    full = TeamFactory(name="Alpha", manager=manager)
    add_rep(full, first_name="Ann", last_name="Lee")
    TeamFactory(name="Empty", manager=manager)

    report = build_report(manager, default_period())
    text = render_text(report)
    html = render_html(report)

    lines = text.splitlines()
    empty = lines.index("Team: Empty")
    assert lines[empty + 1] == "(no reps in this team during the period)"
    assert lines[empty + 2] == ""  # no table, no rules, for a team without reps
    assert lines.count("Team: Alpha") == 1
    assert "All teams (2)" in text and "All teams (2)" in html
    # The HTML's all-teams table is headed by "Team", one row per team, then the total.
    all_teams = html[html.index("All teams (2)") :]
    assert ">Team</th>" in all_teams and ">Rep</th>" not in all_teams
    assert all_teams.index(">Alpha</td>") < all_teams.index(">Empty</td>")
    assert all_teams.index(">Empty</td>") < all_teams.index(">Grand total</th>")


# NOISE, AND WHAT OPERATORS SEE
# ------------------------------------------------------------------------------


def test_the_development_email_is_one_readable_info_record(team, caplog, capsys, settings):
    import logging

    from django.core.mail import EmailMultiAlternatives

    import core.settings

    # The development default (the suite itself sends to Django's locmem backend).
    assert core.settings.EMAIL_BACKEND == "apps.mailing.backends.ReadableConsoleBackend"
    settings.EMAIL_BACKEND = core.settings.EMAIL_BACKEND
    message = EmailMultiAlternatives("Report 2025-09", "Hello Maria,\nthe numbers.", to=["m@x.org"])
    message.attach_alternative("<p>Hello</p>" * 50, "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")

    with caplog.at_level(logging.INFO, logger="apps.mailing.backends"):
        assert message.send() == 1

    (record,) = [r for r in caplog.records if r.name == "apps.mailing.backends"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "Subject: Report 2025-09" in text and "Hello Maria,\nthe numbers." in text
    assert "[alternative text/html: 600 characters]" in text
    assert "[attachment report.csv (text/csv): 8 characters]" in text
    assert "Content-Transfer-Encoding" not in text  # no raw MIME
    assert capsys.readouterr().out == ""  # nothing on stdout for Celery to re-log as WARNING


def test_favicon_is_no_404(client):
    assert client.get("/favicon.ico").status_code == 204


def test_flower_lists_args_and_queue_and_keeps_quiet_while_workers_start(monkeypatch):
    import logging
    import runpy

    from tests.support.flower import FLOWER_CONFIG

    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))

    columns = config["tasks_columns"].split(",")
    assert {"name", "args", "routing_key", "state", "worker"} <= set(columns)
    quiet = logging.getLogger("flower.inspector").filters[-1]
    record = logging.LogRecord("flower.inspector", logging.WARNING, "", 0, "x", (), None)
    record.msg, record.args = "Inspect method %s failed", ("stats",)
    assert quiet.filter(record) is False
    record.msg, record.args = "Inspect method %s failed: %s", ("stats", "boom")
    assert quiet.filter(record) is True


def test_the_task_results_list_shows_arguments_queue_and_error(admin_client):
    import json

    from django_celery_results.models import TaskResult

    TaskResult.objects.create(
        task_id="0123456789abcdef-failed",
        task_name="apps.commission.tasks.generate_and_send_commission_report",
        status="FAILURE",
        meta=json.dumps({"queue": "reports", "args": [7, "2025-09"], "kwargs": {}}),
        result=json.dumps({"exc_type": "ReportRequestError", "exc_message": ["no user with id 7"]}),
    )

    page = admin_client.get("/admin/django_celery_results/taskresult/").content.decode()

    assert "01234567" in page and "generate_and_send_commission_report" in page
    assert "7, &quot;2025-09&quot;" in page
    assert ">reports<" in page
    assert "ReportRequestError: [&#x27;no user with id 7&#x27;]" in page


def test_the_flower_config_defines_nothing_flower_does_not_take(monkeypatch):
    """Flower applies every top-level name of the file that is one of its options, and
    refuses a value of the wrong type (an imported module named like an option)."""
    import runpy

    from flower.options import options

    from tests.support.flower import FLOWER_CONFIG

    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")
    config = runpy.run_path(str(FLOWER_CONFIG))
    public = {name: value for name, value in config.items() if not name.startswith("_")}
    for name, value in public.items():
        if name in options:
            options._options[options._normalize_name(name)].set(value)  # raises on a bad type


def test_waiting_for_a_process_that_exited_fails_at_once():
    from tests.support.waiting import StopWaiting, wait_for

    calls = []

    def exited():
        calls.append(1)
        raise StopWaiting("worker exited: ImportError")

    with pytest.raises(StopWaiting, match="ImportError"):
        wait_for(exited, timeout=30)
    assert len(calls) == 1  # given up at once, not asked again until the timeout
