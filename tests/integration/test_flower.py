"""Flower, started with ops/flower/flowerconfig.py, watching the suite's Redis and real workers."""

import base64
import re
import secrets
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from selenium.webdriver.common.by import By

from apps.commission.periods import default_period
from apps.commission.tasks import generate_and_send_commission_report
from apps.mailing.models import EmailDelivery
from tests.factories import TeamFactory, UserFactory, add_rep
from tests.support.browser import browser_fixture  # noqa: F401  (the `browser` fixture)
from tests.support.flower import FlowerProcess, flower_command
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


# THE /metrics PATCH (backend/patches/flower.py)
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


# THE TASK LIST IN A BROWSER (Debian's Chromium, 1,400 px wide)
# ------------------------------------------------------------------------------

# What an operator's screen shows of the task list: each task's cells by column (the text
# shown, and where the cell's link goes, if it has one), the table's full width against the
# width of the box that shows it, and the page's.
TASK_LIST_LAYOUT = """
const columns = [...document.querySelectorAll('#tasks-table thead th')].map(
    th => th.dataset.column);
const rows = arguments[0].map(id => document.getElementById(id));
if (rows.some(row => row === null)) return null;
const table = rows[0].closest('table');
const cells = (row, value) => Object.fromEntries(
    [...row.cells].map((td, i) => [columns[i], value(td)]));
return {
    rows: rows.map(row => cells(row, td => td.innerText)),
    links: rows.map(row => cells(row, td => td.querySelector('a')?.getAttribute('href') ?? null)),
    tableWidth: table.scrollWidth,
    boxWidth: table.parentElement.clientWidth,
    pageWidth: document.documentElement.scrollWidth,
    windowWidth: window.innerWidth,
};
"""


def with_credentials(browser, flower: FlowerProcess) -> None:
    """Every request the browser makes carries Flower's basic-auth credentials."""
    token = base64.b64encode(":".join(flower.auth).encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_flower_task_list_shows_keyword_arguments_within_1400_px(browser, flower, worker_pool):
    """The README's shell example queues a report by keyword (`user_id=`), the product by
    position: the task list shows both, each task's uuid links to its page (name, worker,
    traceback), and its columns fit a 1,400 px window."""
    worker = worker_pool.ensure("reports")
    flower.wait_for_events_from(worker.nodename)
    # No such manager: each is refused at once, with nothing queued behind it.
    by_keyword = generate_and_send_commission_report.delay(user_id=987654321)
    by_position = generate_and_send_commission_report.delay(987654322, "2025-11")
    for task in (by_keyword, by_position):
        wait_for(lambda t=task: finished(flower, t.id, "FAILURE"), what="the task in Flower")
    with_credentials(browser, flower)

    browser.get(f"{flower.url}/tasks")
    layout = wait_for(
        lambda: browser.execute_script(TASK_LIST_LAYOUT, [by_keyword.id, by_position.id]),
        what="both tasks' rows",
    )

    keyword_row, position_row = layout["rows"]
    assert keyword_row["kwargs"] == "{'user_id': 987654321}"
    assert keyword_row["args"] == "()"
    assert position_row["args"] == "(987654322, '2025-11')"
    assert keyword_row["state"] == "FAILURE"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", keyword_row["received"])
    # The whole uuid shows, and opens the task's own page.
    assert (keyword_row["uuid"], position_row["uuid"]) == (by_keyword.id, by_position.id)
    keyword_links, position_links = layout["links"]
    assert keyword_links["uuid"] == f"/task/{by_keyword.id}"
    assert position_links["uuid"] == f"/task/{by_position.id}"
    assert layout["windowWidth"] == 1400  # tests/support/browser.py's window
    assert layout["tableWidth"] <= layout["boxWidth"], layout
    assert layout["pageWidth"] <= layout["windowWidth"], layout

    # The task's page, through that link: the full dotted name (not in the list), kwargs.
    browser.find_element(By.CSS_SELECTOR, f'[id="{by_keyword.id}"] a[href^="/task/"]').click()
    name = wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".task-name-value"), what="the task page"
    )[0]
    assert browser.current_url == f"{flower.url}/task/{by_keyword.id}"
    assert name.text == REPORT_TASK
    assert "{'user_id': 987654321}" in browser.find_element(By.TAG_NAME, "body").text
