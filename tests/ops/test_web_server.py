"""Production's web server as ops/start/web starts it: gunicorn with the environment
compose gives the web service, in a network namespace of its own (it binds port 8000),
recycling its workers every few requests while every request is answered."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compose import container_env
from tests.support.processes import REPO_DIR as REPO

REQUESTS = 240
MAX_REQUESTS = 20

# Runs inside the namespace: waits for the server, then asks /healthz REQUESTS times
# with the container health check's own request, printing each answer's status.
CLIENT = f"""
import sys, time, urllib.request
sys.path.insert(0, "{REPO}/ops/docker")
from http_healthcheck import host_header
request = urllib.request.Request(
    "http://127.0.0.1:8000/healthz",
    headers={{"Host": host_header(), "X-Forwarded-Proto": "https"}},
)
def status():
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except OSError as error:
        return type(error).__name__
deadline = time.monotonic() + 120
while status() != 200 and time.monotonic() < deadline:
    time.sleep(0.1)
print("statuses", " ".join(str(status()) for _ in range({REQUESTS})))
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a network namespace",
)


def test_workers_recycle_one_at_a_time_and_no_request_goes_unanswered(prod_model, tmp_path):
    env = container_env(
        prod_model,
        "web",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        GUNICORN_MAX_REQUESTS=str(MAX_REQUESTS),
        GUNICORN_WORKERS="3",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    script = (
        "ip link set lo up; "
        f"{REPO}/ops/start/web 2> {tmp_path}/gunicorn.log & server=$!; "
        f"{sys.executable} -c '{CLIENT}'; kill -TERM $server; wait $server"
    )
    result = subprocess.run(
        ["unshare", "--net", "bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "gunicorn.log").read_text()

    statuses = re.search(r"statuses (.*)", result.stdout)
    assert statuses, result.stdout + result.stderr + log
    assert set(statuses.group(1).split()) == {"200"}, log
    assert "Using worker: sync" in log
    # 240 requests over 3 workers that recycle after 20 to 30 each: at least 7 recycles.
    assert log.count("Autorestarting worker after current request") >= 7
