"""Flower, started with ops/flower/flowerconfig.py, watching the suite's Redis and real workers."""

import asyncio
import base64
import runpy
import secrets
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

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
# Production Flower refuses a short password.
STRONG = ("ops", "a-long-flower-password-for-tests")


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


def counted(metrics: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name` with these labels in Prometheus text, if any."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


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

    for path in ("/api/tasks", f"/api/task/info/{report.id}", "/tasks", "/tasks/datatable"):
        assert flower.get(path).status_code == 401, path
        assert flower.get(path, auth=("ops", "wrong")).status_code == 401, path


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_metrics_ask_for_the_credentials_and_the_healthcheck_does_not(flower, worker_pool):
    """Flower serves /metrics open (mher/flower#1342): backend/patches/flower.py puts it
    behind the same basic auth. Container health checks still reach /healthcheck."""
    reports_worker = worker_pool.ensure("reports")
    flower.wait_for_events_from(reports_worker.nodename)
    refused = generate_and_send_commission_report.delay(987654321, None)
    wait_for(lambda: finished(flower, refused.id, "FAILURE"), what="the task in Flower")

    for auth in (None, ("ops", "wrong"), ("nobody", AUTH[1])):
        answer = flower.get("/metrics", auth=auth)
        assert answer.status_code == 401, auth
        assert REPORT_TASK not in answer.text
    answer = flower.get("/metrics", auth=AUTH)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    failed = {"worker": reports_worker.nodename, "type": "task-failed", "task": REPORT_TASK}
    assert counted(answer.text, "flower_events_total", failed) == 1

    health = flower.get("/healthcheck")
    assert (health.status_code, health.text) == (200, "OK")


def consumed_queues(flower: FlowerProcess) -> set[str]:
    """The queues of the workers Flower knows, after it has asked them afresh."""
    workers = flower.get("/api/workers", params={"refresh": "1"}, auth=AUTH).json()
    return {queue["name"] for info in workers.values() for queue in info["active_queues"]}


def queue_lengths(flower: FlowerProcess) -> dict[str, int]:
    """What the Broker page shows, through its API: messages waiting in each queue."""
    response = flower.get("/api/queues/length", auth=AUTH)
    response.raise_for_status()
    return {queue["name"]: queue["messages"] for queue in response.json()["active_queues"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_broker_page_shows_both_queues_lengths(worker_pool, live_broker, tmp_path):
    """Operators watch the queues' lengths on Flower's Broker page, which Flower serves
    only for a broker URL it knows (redis://, not a custom transport's name)."""
    worker_pool.ensure("reports")
    worker_pool.ensure("email")
    flower = FlowerProcess(flower_env(worker_pool, tmp_path), tmp_path / "flower.log")
    try:
        wait_for(
            lambda: consumed_queues(flower) == {"reports", "email"},
            what="Flower to know both workers' queues",
        )
        worker_pool.stop("email")  # nothing takes from the email queue now
        for delivery_id in (1, 2, 3):
            live_broker.send_task(SEND_TASK, args=[delivery_id])

        assert wait_for(
            lambda: queue_lengths(flower) == {"reports": 0, "email": 3},
            what="three messages waiting in the email queue",
        )
        page = flower.get("/broker", auth=AUTH)
        assert page.status_code == 200, flower.log()
        assert '">redis://' in page.text  # the broker URL, its password masked
        assert '<tr id="email">' in page.text and '<tr id="reports">' in page.text
        assert flower.get("/api/queues/length").status_code == 401
    finally:
        flower.stop()
        live_broker.control.purge()  # the next email worker finds nothing of this test's


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
@pytest.mark.parametrize("environment", ["development", "production"])
def test_flower_refuses_to_start_without_basic_auth(worker_pool, tmp_path, environment):
    env = flower_env(
        worker_pool,
        tmp_path,
        DJANGO_ENV=environment,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="localhost",
        FLOWER_BASIC_AUTH="",
    )
    finished_process = subprocess.run(
        flower_command(), cwd=BACKEND_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert finished_process.returncode != 0
    assert "FLOWER_BASIC_AUTH is required" in finished_process.stderr


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


@pytest.mark.parametrize("value", ["", " , "])
def test_flower_config_refuses_no_credentials_in_development_too(monkeypatch, value):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)

    with pytest.raises(RuntimeError, match="FLOWER_BASIC_AUTH is required"):
        runpy.run_path(str(FLOWER_CONFIG))


def test_flower_config_treats_empty_variables_as_unset(monkeypatch):
    for name in ("FLOWER_ADDRESS", "FLOWER_STATE_FILE", "FLOWER_MAX_TASKS"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:dev")

    config = runpy.run_path(str(FLOWER_CONFIG))

    assert config["basic_auth"] == ["ops:dev"]
    assert config["address"] == "127.0.0.1"
    assert config["db"].endswith("var/flower/state")
    assert config["max_tasks"] == 10_000


# THE /metrics PATCH (backend/patches/flower.py)
# ------------------------------------------------------------------------------


def metrics_status(handler, authorization: str | None) -> int:
    """The status a Tornado app routing /metrics to `handler` answers, with Flower's
    basic auth set to ops:pw (the application attributes Flower's handlers read)."""
    from types import SimpleNamespace

    import tornado.web
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    async def ask() -> int:
        app = tornado.web.Application([(r"/metrics", handler)])
        app.options = SimpleNamespace(basic_auth=["ops:pw"], auth="")
        app.purge_offline_worker_metrics = lambda: None
        sockets = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(app)
        server.add_sockets(sockets)
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await AsyncHTTPClient().fetch(
                f"http://127.0.0.1:{sockets[0].getsockname()[1]}/metrics",
                headers=headers,
                raise_error=False,
            )
        finally:
            server.stop()
        return response.code

    return asyncio.run(ask())


OPS_PW = "Basic " + base64.b64encode(b"ops:pw").decode()


def test_the_installed_flower_still_serves_metrics_without_credentials():
    """Why the patch exists. When this fails, an upgrade closed /metrics itself: drop the
    patch in backend/patches/flower.py."""
    from flower.views.monitor import Metrics

    assert metrics_status(Metrics, None) == 200


def test_the_patch_routes_metrics_to_a_handler_that_asks_for_the_credentials():
    from flower import urls
    from flower.views.monitor import Metrics

    from patches import flower as flower_patches

    handler = flower_patches.apply()

    assert flower_patches.apply() is handler  # once, however often the config is loaded
    routes = [route for route in urls.handlers if isinstance(route, tuple)]
    assert [route[1] for route in routes if route[0] == "/metrics"] == [handler]
    assert issubclass(handler, Metrics) and handler is not Metrics
    assert metrics_status(handler, None) == 401
    assert metrics_status(handler, "Basic " + base64.b64encode(b"ops:no").decode()) == 401
    assert metrics_status(handler, OPS_PW) == 200


def test_the_patch_keeps_flower_from_starting_on_a_version_it_was_not_checked_against():
    from patches import flower as flower_patches

    with pytest.raises(RuntimeError, match=r"flower 2\.3\.0 is installed.*checked against 2\.2\.0"):
        flower_patches.apply("2.3.0")


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
