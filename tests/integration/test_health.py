"""Health endpoints, the worker health check and task context in log lines."""

import socket
import subprocess

import pytest
from django.db import connection

from apps.commission.tasks import generate_and_send_commission_report
from tests.support.processes import REPO_DIR, WorkerProcess, free_port
from tests.support.task_results import wait_for_result
from tests.support.waiting import wait_for

HEALTHCHECK = REPO_DIR / "ops" / "scripts" / "worker-healthcheck.sh"
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"


@pytest.mark.django_db
@pytest.mark.integration
def test_readyz_checks_the_database_and_the_broker(client, live_broker):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_readyz_names_an_unreachable_database(client, live_broker, tmp_path):
    database = connection.settings_dict
    saved = dict(database)
    connection.close()
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    else:
        database.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        database.clear()
        database.update(saved)
    assert response.status_code == 503
    assert list(response.json()["failed"]) == ["database"]
    assert "OperationalError" in response.json()["failed"]["database"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_worker_healthcheck_pings_the_worker_of_its_queue_on_this_host(worker_pool, tmp_path):
    # Named like production workers (`-n reports@%h`), unlike the pool's.
    worker = WorkerProcess(
        worker_pool.app,
        "reports",
        worker_pool.common_env,
        tmp_path / "worker.log",
        nodename=f"reports@{socket.gethostname()}",
    )
    try:
        healthy = subprocess.run(
            [str(HEALTHCHECK), "reports"],
            env=worker_pool.common_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # No email worker runs under this host's name.
        unhealthy = subprocess.run(
            [str(HEALTHCHECK), "email"],
            env={**worker_pool.common_env, "WORKER_HEALTHCHECK_TIMEOUT": "6"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        worker.stop()
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert f"reports@{socket.gethostname()}: OK" in healthy.stdout
    assert "pong" in healthy.stdout
    assert unhealthy.returncode != 0
    assert "No nodes replied" in unhealthy.stdout + unhealthy.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_task_log_lines_carry_the_task_name_and_id(worker_pool):
    worker = worker_pool.ensure("reports")
    refused = generate_and_send_commission_report.delay(987654321, None)
    wait_for_result(refused.id, "FAILURE")
    line = f"[{REPORT_TASK} {refused.id}] Commission report refused (user_id=987654321"
    wait_for(lambda: line in worker.log(), what="the task's log line")
