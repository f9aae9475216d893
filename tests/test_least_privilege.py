"""Operator surfaces do no more than they should, and secrets are never shown:
Flower, Celery's config dump and Django's error pages."""

import json
import os
import runpy
import subprocess
import sys

import pytest
import requests
from django.views.debug import get_default_exception_reporter_filter

from tests.support.flower import FLOWER_CONFIG, FlowerProcess
from tests.support.processes import BACKEND_DIR

BROKER_WITH_PASSWORD = "redis://:broker-s3cret-pw@127.0.0.1:6379/0"
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
STRONG = ("ops", "a-long-flower-password-for-tests")


def celery_config_dump(**variables: str) -> dict:
    """What `celery inspect conf` (and Flower's worker page) shows: the worker's
    `app.conf.table(censored=True)`, in a fresh process with these variables."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings", **variables}
    code = (
        "import json, django; django.setup(); from core.celery import app; "
        "print(json.dumps(app.conf.table(with_defaults=False, censored=True), default=str))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


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
        "DJANGO_SECRET_KEY": "test-secret-key-for-flower-only",
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
        # Watching still works.
        assert flower.get("/api/workers", auth=STRONG).status_code == 200
        assert worker.process.poll() is None
    finally:
        flower.stop()


@pytest.mark.parametrize("password", ["change-me", "short", "change-me-change-me-please"])
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


def staff_user(*permissions: str):
    """A staff user with these permissions ("app_label.codename")."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(username=f"staff-{len(permissions)}", is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def offered_actions(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    return {name for name, _ in form.fields["action"].choices} if form else set()


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

    from apps.commission import periods, services
    from apps.commission.periods import current_period
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
    monkeypatch.setattr(periods, "month_to_date", lambda period: None)
    monkeypatch.setattr(services, "month_to_date", lambda period: None)
    month_end_key = services.report_idempotency_key(team.manager, period)
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
