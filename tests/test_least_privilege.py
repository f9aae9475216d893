"""Operator surfaces do no more than they should, and secrets are never shown:
Flower, Celery's config dump and Django's error pages."""

import json
import runpy
import secrets

import pytest
import requests
from django.contrib.auth import get_user_model
from django.views.debug import get_default_exception_reporter_filter

from tests.support.admin import offered_actions, staff_user
from tests.support.flower import FLOWER_CONFIG, FlowerProcess
from tests.support.fresh_python import printed_json

BROKER_WITH_PASSWORD = "redis://:broker-s3cret-pw@127.0.0.1:6379/0"
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
STRONG = ("ops", "a-long-flower-password-for-tests")


def celery_config_dump(**variables: str) -> dict:
    """What `celery inspect conf` (and Flower's worker page) shows: the worker's
    `app.conf.table(censored=True)`, in a fresh process with these variables."""
    code = (
        "import json, django; django.setup(); from core.celery import app; "
        "print(json.dumps(app.conf.table(with_defaults=False, censored=True), default=str))"
    )
    return printed_json(code, **variables)


def test_the_celery_config_dump_holds_only_celery_settings_and_no_password():
    dump = celery_config_dump(CELERY_BROKER_URL=BROKER_WITH_PASSWORD)

    assert "broker-s3cret-pw" not in json.dumps(dump)
    assert dump["broker_url"] == "redis://:********@127.0.0.1:6379/0"
    # Django's own settings (SECRET_KEY, DATABASES, ANYMAIL, ...) are not Celery's.
    assert not {"SECRET_KEY", "DATABASES", "ANYMAIL", "CELERY_BROKER_URL"} & set(dump)
    assert dump["task_acks_late"] is True


def test_the_debug_page_and_error_reports_hide_every_credential(settings):
    settings.CELERY_BROKER_URL = BROKER_WITH_PASSWORD
    settings.SENTRY_DSN = "https://public-key@sentry.example.com/1"

    shown = get_default_exception_reporter_filter().get_safe_settings()

    assert "broker-s3cret-pw" not in str(shown)
    assert "public-key" not in str(shown)
    assert shown["CELERY_BROKER_URL"] == "********************"


# FLOWER
# ------------------------------------------------------------------------------


def production_flower_env(worker_pool, tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in worker_pool.common_env.items() if not k.startswith("FLOWER_")}
    return {
        **env,
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "FLOWER_BASIC_AUTH": ":".join(STRONG),
        "FLOWER_STATE_FILE": str(tmp_path / "flower" / "state"),
        **extra,
    }


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_production_flower_watches_and_refuses_to_act(worker_pool, tmp_path):
    worker = worker_pool.ensure("reports")
    flower = FlowerProcess(production_flower_env(worker_pool, tmp_path), tmp_path / "flower.log")
    try:
        flower.wait_for_events_from(worker.nodename)
        actions = [
            f"/api/task/async-apply/{REPORT_TASK}",
            f"/api/task/apply/{REPORT_TASK}",
            f"/api/task/send-task/{REPORT_TASK}",
            f"/api/worker/shutdown/{worker.nodename}",
            f"/api/worker/pool/grow/{worker.nodename}",
            f"/api/task/rate-limit/{worker.nodename}",
        ]
        for path in actions:
            answer = requests.post(
                f"{flower.url}{path}",
                json={"args": [1, "2025-09"], "kwargs": {"resend_key": "x"}},
                auth=STRONG,
                timeout=10,
            )
            assert answer.status_code == 403, (path, answer.status_code, answer.text)
        # Watching still works, with the password; the metrics too, only with it.
        assert flower.get("/api/workers", auth=STRONG).status_code == 200
        assert flower.get("/metrics").status_code == 401
        assert "flower_worker_online" in flower.metrics()
        assert worker.process.poll() is None
    finally:
        flower.stop()


@pytest.mark.parametrize(
    "password", ["change-me", "short", "change-me-change-me-please", "commission-demo-in-prod"]
)
def test_production_flower_refuses_a_placeholder_or_short_password(monkeypatch, password):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", f"ops:{password}")

    with pytest.raises(RuntimeError, match="placeholder or short password for ops"):
        runpy.run_path(str(FLOWER_CONFIG))


def test_development_flower_may_act_and_take_any_password(monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["read_only"] is False


# ADMIN ACTIONS: EACH BEHIND ITS OWN PERMISSION
# ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "action", "model_permissions", "dedicated"),
    [
        (
            "/admin/django_celery_results/taskresult/",
            "retry_failed_tasks",
            ["django_celery_results.view_taskresult", "django_celery_results.change_taskresult"],
            "taskops.retry_failed_task",
        ),
        (
            "/admin/commission/team/",
            "send_last_month_report",
            ["commission.view_team", "commission.change_team"],
            "commission.request_report",
        ),
        (
            "/admin/django_celery_beat/periodictask/",
            "run_tasks",
            ["django_celery_beat.view_periodictask", "django_celery_beat.change_periodictask"],
            "taskops.run_scheduled_task",
        ),
    ],
)
def test_admin_actions_that_send_need_their_own_permission(
    client, url, action, model_permissions, dedicated
):
    client.force_login(staff_user(*model_permissions))
    assert action not in offered_actions(client, url)

    client.force_login(staff_user(*model_permissions, dedicated))
    assert action in offered_actions(client, url)


# REPORTS: THE MONTH IN PROGRESS, LONG NAMES
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_report_of_the_month_in_progress_is_month_to_date_and_keeps_the_months_email(
    monkeypatch,
):
    from django.utils import timezone

    from apps.commission import services
    from apps.commission.periods import current_period
    from apps.commission.report import request
    from tests.factories import TeamFactory, add_rep

    team = TeamFactory(name="Now")
    add_rep(team)
    period = current_period()

    report, delivery = services.prepare_report_email(team.manager, period)

    today = timezone.localdate().isoformat()
    assert f"(month to date, as of {today})" in report.subject
    assert f"month to date, as of {today}" in report.body_text.splitlines()[0]
    assert f"to {today}." in report.body_text
    assert delivery.idempotency_key.endswith(f":to-date:{today}")
    # Once the month is over, its report has its own, unused key: not "already sent".
    monkeypatch.setattr(request, "month_to_date", lambda period: None)
    month_end_key = request.report_idempotency_key(team.manager, period)
    assert month_end_key == f"commission-report:{team.manager.pk}:{period}"
    assert month_end_key != delivery.idempotency_key


@pytest.mark.django_db
def test_long_team_names_shorten_the_subject_and_never_stop_the_report():
    from apps.commission.models import CommissionReport
    from apps.commission.periods import default_period
    from apps.commission.services import prepare_report_email
    from apps.mailing.models import EmailDelivery
    from tests.factories import TeamFactory, UserFactory

    manager = UserFactory(username="long-names")
    for letter in "ABC":
        TeamFactory(name=letter * 114, manager=manager)

    report, delivery = prepare_report_email(manager, default_period())

    limit = CommissionReport._meta.get_field("subject").max_length
    assert limit == EmailDelivery._meta.get_field("subject").max_length == 255
    assert len(report.subject) <= limit and len(delivery.subject) <= limit
    assert report.subject.endswith("…")


# CONTENT AND INPUT
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_csv_cells_cannot_carry_formulas_and_numbers_stay_numbers():
    import csv
    import io

    from apps.commission.periods import default_period
    from apps.commission.report.figures import build_report
    from apps.commission.report.render import render_csv
    from apps.commission.services import record_deal
    from tests.factories import TeamFactory, add_rep

    team = TeamFactory(name='=HYPERLINK("http://evil","x")')
    period = default_period()
    reps = [
        add_rep(team, first_name=name, last_name="")
        for name in ("+1 rep", "-2 rep", "@sum", "\tTab", "\rCR", "Ann")
    ]
    record_deal(rep=reps[-1], amount="1000.00", closed_on=period.start, external_ref="csv-1")

    rows = list(csv.reader(io.StringIO(render_csv(build_report(team.manager, period)))))

    names = {row[2] for row in rows[1:]}
    assert {row[1] for row in rows[1:]} == {'\'=HYPERLINK("http://evil","x")'}
    assert {"'+1 rep", "'-2 rep", "'@sum", "Ann"} <= names
    assert not any(name[0] in "=+-@\t\r" for name in names)
    ann = next(row for row in rows if row[2] == "Ann")
    assert ann[3:5] == ["1", "1000.00"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["North\r\nBcc: all@example.com", "Tab\tname", "\u202egnp.exe", "a\u2066b"]
)
def test_names_with_control_or_bidi_characters_are_refused(admin_client, name):
    from django.core.exceptions import ValidationError

    from apps.commission.models import Team
    from tests.factories import UserFactory

    manager = UserFactory(username="names")
    with pytest.raises(ValidationError, match="plain text on one line"):
        Team(name=name, manager=manager, commission_rate=5).full_clean()
    with pytest.raises(ValidationError, match="plain text on one line"):
        manager.first_name = name
        manager.full_clean()

    response = admin_client.post(
        "/admin/commission/team/add/",
        {
            "name": name,
            "manager": manager.pk,
            "commission_rate": "5",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "plain text on one line" in response.content.decode()
    assert not Team.objects.filter(manager=manager).exists()


@pytest.mark.django_db
def test_a_name_stored_before_the_check_still_reaches_the_report_as_one_plain_line():
    from apps.commission.models import Team
    from apps.commission.periods import default_period
    from apps.commission.report.figures import build_report
    from apps.commission.report.render import report_subject
    from tests.factories import TeamFactory, add_rep

    team = TeamFactory()
    Team.objects.filter(pk=team.pk).update(name="Evil\r\nBcc: x@example.com\u202e")
    add_rep(team, first_name="Bob\nRay", last_name="")

    report = build_report(team.manager, default_period())

    assert "\n" not in report_subject(report) and "\u202e" not in report_subject(report)
    assert report.teams[0].lines[0].name == "Bob Ray"


BIGINT_MAX = 2**63 - 1
# Ids a forged message or command may carry: within a 32-bit column's range or not, beyond
# a 64-bit one, as a JSON number or a string.
HUGE_IDS = [2**31, 2**63, 10**30, str(2**63), str(10**30)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        ("7", 7),
        ("²", None),
        ("\uff12", None),
        ("7 ", None),
        ("-1", None),
        (True, None),
        (0, None),
        ("", None),
        (None, None),
        ("1" * 30, None),
        (3.0, None),
        (BIGINT_MAX, BIGINT_MAX),
        (str(BIGINT_MAX), BIGINT_MAX),
        (BIGINT_MAX + 1, None),
        (str(BIGINT_MAX + 1), None),
        (10**30, None),
        ("9" * 20, None),
    ],
)
def test_ids_are_plain_ascii_digits_the_id_column_holds(value, expected):
    from apps.mailing.models import EmailDelivery
    from core.validators import parse_id

    assert parse_id(value, EmailDelivery) == expected


def test_the_largest_id_is_the_columns_own_on_this_database():
    """Asked of the database for the field's type, not written down: our models use
    BigAutoField; django.contrib.auth's Group keeps AutoField, 32 bits on PostgreSQL."""
    from django.contrib.auth.models import Group
    from django.db import connection

    from apps.mailing.models import EmailDelivery
    from core.validators import largest_id, parse_id

    assert largest_id(EmailDelivery) == BIGINT_MAX
    assert largest_id(get_user_model()) == BIGINT_MAX
    if connection.vendor == "postgresql":
        assert largest_id(Group) == 2**31 - 1
        assert parse_id(2**31, Group) is None
    else:  # SQLite stores every integer in up to 64 bits
        assert largest_id(Group) == BIGINT_MAX
        assert parse_id(2**31, Group) == 2**31


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", ["²", "\uff12", "2 "])
def test_a_report_for_a_non_ascii_id_is_refused_cleanly(user_id):
    from apps.commission.report.request import ReportRequestError, load_report_request
    from tests.factories import TeamFactory

    TeamFactory(manager__id=2)
    with pytest.raises(ReportRequestError, match="whole number"):
        load_report_request(user_id, None)


@pytest.mark.django_db
@pytest.mark.parametrize("user_id", HUGE_IDS, ids=str)
def test_a_report_for_a_huge_id_is_refused_cleanly(celery_eager, user_id, caplog):
    """No OverflowError (SQLite) or DataError (PostgreSQL): 2**31 fits our 64-bit ids and
    is simply nobody; the others are refused before any SQL."""
    from apps.commission.report.request import ReportRequestError
    from apps.commission.tasks import generate_and_send_commission_report
    from tests.factories import TeamFactory

    TeamFactory()

    result = generate_and_send_commission_report.delay(user_id, "2025-09")

    assert result.failed()
    assert isinstance(result.result, ReportRequestError), repr(result.result)
    expected = "no user with id" if user_id == 2**31 else "must be a whole number from 1 to"
    assert expected in str(result.result)
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("delivery_id", HUGE_IDS, ids=str)
def test_sending_a_huge_delivery_id_fails_once_cleanly(celery_eager, delivery_id, caplog):
    from apps.mailing.send_errors import PermanentEmailError
    from apps.mailing.tasks import send_email_delivery

    result = send_email_delivery.delay(delivery_id)

    assert result.failed()
    assert isinstance(result.result, PermanentEmailError), repr(result.result)
    expected = "no email delivery with id" if delivery_id == 2**31 else "whole number from 1 to"
    assert expected in str(result.result)
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("delivery_id", ["abc", 2**63, 10**30])
def test_an_operators_retry_of_a_task_with_a_forged_id_sees_no_delivery(delivery_id):
    """Retrying a failed email task asks its task class about the delivery first."""
    from apps.mailing.tasks import send_email_delivery

    assert send_email_delivery.operator_retry_risk((delivery_id,), {}) == ""
    send_email_delivery.accept_operator_retry_risk((delivery_id,), {}, "ops")


@pytest.mark.django_db
@pytest.mark.parametrize("resend_key", ["", "a" * 65, "x:y", "../x", "a b", 12])
def test_a_malformed_resend_key_is_refused(resend_key):
    from apps.commission.report.request import ReportRequestError, load_report_request
    from tests.factories import TeamFactory

    team = TeamFactory()
    with pytest.raises(ReportRequestError, match="resend key"):
        load_report_request(team.manager.pk, None, resend_key)


@pytest.mark.django_db
def test_sending_a_non_integer_delivery_id_fails_once_cleanly(celery_eager, caplog):
    from apps.mailing.tasks import send_email_delivery

    result = send_email_delivery.delay("abc")

    assert result.failed()
    assert f"email delivery id must be a whole number from 1 to {BIGINT_MAX}, got 'abc'" in str(
        result.result
    )
    assert "Traceback" not in caplog.text


# THE ADMIN LOGIN
# ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_login_is_throttled_after_repeated_failures(client, settings):
    from tests.factories import UserFactory

    user = UserFactory(username="target", is_staff=True)
    user.set_password("the-right-password-123")
    user.save()
    login = "/admin/login/?next=/admin/"

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        answer = client.post(login, {"username": "target", "password": "guess"})
        assert answer.status_code == 200  # the form again, "please enter a correct ..."
    last = client.post(login, {"username": "target", "password": "guess"})
    assert last.status_code == 429

    locked = client.post(login, {"username": "target", "password": "the-right-password-123"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session

    other = client.post(login, {"username": "someone-else", "password": "guess"})
    assert other.status_code == 200  # the lockout is for that user name, not everyone
