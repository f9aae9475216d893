"""Flower, started with ops/flower/flowerconfig.py, watching the suite's Redis and real workers."""

import runpy
import secrets
import subprocess

import pytest

from apps.commission.periods import default_period
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.flower import FLOWER_CONFIG, FlowerProcess, flower_command
from tests.support.processes import BACKEND_DIR
from tests.support.waiting import wait_for

REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"
SEND_TASK = "apps.mailing.tasks.send_email_delivery"
AUTH = ("ops", "flower-test-secret")


def flower_env(worker_pool, tmp_path, **extra: str) -> dict[str, str]:
    """The workers' environment (same Redis), without any FLOWER_* of the caller's shell."""
    env = {k: v for k, v in worker_pool.common_env.items() if not k.startswith("FLOWER_")}
    return {
        **env,
        "FLOWER_BASIC_AUTH": ":".join(AUTH),
        "FLOWER_STATE_FILE": str(tmp_path / "flower" / "state"),
        "FLOWER_STATE_SAVE_INTERVAL": "500",
        **extra,
    }


@pytest.fixture
def flower(worker_pool, tmp_path):
    process = FlowerProcess(flower_env(worker_pool, tmp_path), tmp_path / "flower.log")
    try:
        yield process
    finally:
        process.stop()


def task_info(flower: FlowerProcess, task_id: str) -> dict:
    response = flower.get(f"/api/task/info/{task_id}", auth=AUTH)
    response.raise_for_status()
    return response.json()


def finished(flower: FlowerProcess, task_id: str, state: str) -> dict | None:
    info = task_info(flower, task_id)
    return info if info["state"] == state else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_shows_the_report_task_and_its_email_task_behind_basic_auth(flower, worker_pool):
    reports_worker = worker_pool.ensure("reports")
    email_worker = worker_pool.ensure("email")
    flower.wait_for_events_from(reports_worker.nodename)
    flower.wait_for_events_from(email_worker.nodename)
    team = TeamFactory(manager=UserFactory(username="flora"))
    add_rep(team)

    report = generate_and_send_commission_report.delay(team.manager.pk, str(default_period()))
    delivery_id = report.get(timeout=60)["delivery_id"]
    wait_for(
        lambda: EmailDelivery.objects.filter(pk=delivery_id, status="sent").exists(),
        what="the report email to be sent",
    )

    report_info = wait_for(lambda: finished(flower, report.id, "SUCCESS"), what="report in Flower")
    assert report_info["name"] == REPORT_TASK
    assert report_info["routing_key"] == "reports"
    assert report_info["worker"] == reports_worker.nodename

    def email_task():
        tasks = flower.get("/api/tasks", params={"taskname": SEND_TASK}, auth=AUTH).json()
        return next(
            (
                t
                for t in tasks.values()
                if t["args"] == f"({delivery_id},)" and t["state"] == "SUCCESS"
            ),
            None,
        )

    email_info = wait_for(email_task, what="the email task in Flower")
    assert email_info["routing_key"] == "email"
    assert email_info["worker"] == email_worker.nodename

    for path in ("/api/tasks", f"/api/task/info/{report.id}", "/tasks"):
        assert flower.get(path).status_code == 401, path
        assert flower.get(path, auth=("ops", "wrong")).status_code == 401, path

    # Prometheus metrics are served (unauthenticated, for the scraper) and count our tasks.
    metrics = flower.get("/metrics").text
    assert f'task="{REPORT_TASK}"' in metrics
    assert "flower_events_total" in metrics


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_keeps_task_history_across_a_restart(worker_pool, tmp_path):
    worker = worker_pool.ensure("reports")
    env = flower_env(worker_pool, tmp_path)
    first = FlowerProcess(env, tmp_path / "flower-1.log")
    try:
        first.wait_for_events_from(worker.nodename)
        # No such user: the report is refused at once, a failure Flower must remember.
        refused = generate_and_send_commission_report.delay(987654321, None)
        wait_for(lambda: finished(first, refused.id, "FAILURE"), what="the failure in Flower")
    finally:
        assert first.stop() == 0, first.log()

    second = FlowerProcess(env, tmp_path / "flower-2.log")
    try:
        info = task_info(second, refused.id)
        assert info["state"] == "FAILURE"
        assert info["name"] == REPORT_TASK
        assert "ReportRequestError" in info["exception"]
    finally:
        second.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_refuses_to_start_in_production_without_basic_auth(worker_pool, tmp_path):
    env = flower_env(
        worker_pool,
        tmp_path,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="localhost",
        FLOWER_BASIC_AUTH="",
    )
    finished_process = subprocess.run(
        flower_command(), cwd=BACKEND_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert finished_process.returncode != 0
    assert "FLOWER_BASIC_AUTH is required when DJANGO_ENV=production" in finished_process.stderr


def test_flower_config_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_ENV", "production")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:one-long-password-1, audit:two-long-password-2")
    monkeypatch.setenv("FLOWER_STATE_FILE", str(tmp_path / "volume" / "flower-state"))
    monkeypatch.setenv("FLOWER_URL_PREFIX", "/flower/")
    monkeypatch.setenv("FLOWER_MAX_TASKS", "500")
    for name in ("FLOWER_PORT", "FLOWER_ADDRESS", "FLOWER_STATE_SAVE_INTERVAL"):
        monkeypatch.delenv(name, raising=False)

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == ["ops:one-long-password-1", "audit:two-long-password-2"]
    assert config["read_only"] is True
    assert config["persistent"] is True
    assert config["db"] == str(tmp_path / "volume" / "flower-state")
    assert (tmp_path / "volume").is_dir()
    assert config["state_save_interval"] == 60_000
    assert config["max_tasks"] == 500
    assert config["url_prefix"] == "flower"
    assert (config["port"], config["address"]) == (5555, "0.0.0.0")  # noqa: S104


def test_flower_config_rejects_credentials_without_a_password(monkeypatch):
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops")
    with pytest.raises(RuntimeError, match="user:password"):
        runpy.run_path(str(FLOWER_CONFIG))


def test_flower_config_treats_empty_variables_as_unset(monkeypatch):
    for name in ("FLOWER_BASIC_AUTH", "FLOWER_ADDRESS", "FLOWER_STATE_FILE", "FLOWER_MAX_TASKS"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("DJANGO_ENV", "development")

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == []  # no authentication, not one empty credential
    assert config["address"] == "127.0.0.1"
    assert config["db"].endswith("var/flower/state")
    assert config["max_tasks"] == 10_000
