"""A sentinel:// broker with a real master, replica and three Sentinels
(tests/support/sentinel.py): every part finds the master through Sentinel and follows it
across a failover by itself, the same client objects and the same worker process."""

import os
import subprocess

import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from apps.mailing import rate_limit
from core import redis_connection
from tests.support.flower import FlowerProcess
from tests.support.processes import REPO_DIR, WorkerProcess
from tests.support.sentinel import sentinel_cluster
from tests.support.task_results import wait_for_result
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

RECONCILE_TASK = "apps.mailing.tasks.reconcile_deliveries"
HEALTHCHECK = REPO_DIR / "ops" / "scripts" / "worker-healthcheck.sh"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with sentinel_cluster(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


@pytest.fixture
def sentinel_broker(celery_app, cluster, monkeypatch):
    """The app's Celery config pointed at the cluster, as the settings would make it."""
    monkeypatch.setitem(celery_app.conf, "broker_url", cluster.broker_url)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", cluster.transport_options)
    return cluster


def test_the_client_finds_the_master_and_follows_a_failover(cluster):
    client = redis_connection.client_for(cluster.broker_url, cluster.transport_options, timeout=2)
    before = cluster.master_port
    client.set("sentinel-test:before", "1")
    assert cluster.redis_at(before).get("sentinel-test:before") == b"1"

    after = cluster.failover()

    assert after != before
    client.set("sentinel-test:after", "2")  # the same client object
    assert cluster.redis_at(after).get("sentinel-test:after") == b"2"
    assert cluster.redis_at(after).info("replication")["role"] == "master"
    redis_connection.close(client)


def master_samples(response) -> dict:
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name.startswith("commission_broker_")
    }


@pytest.mark.django_db
def test_readyz_and_metrics_name_the_master_before_and_after_a_failover(
    client, metrics_open, sentinel_broker
):
    cluster = sentinel_broker
    before = f"127.0.0.1:{cluster.master_port}"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["broker_master"] == before
    samples = master_samples(client.get("/metrics"))
    assert samples[("commission_broker_up", ())] == 1
    assert samples[("commission_broker_master_info", (("address", before),))] == 1
    epoch_before = samples[("commission_broker_master_config_epoch", ())]
    changed_before = samples[("commission_broker_master_changed_timestamp_seconds", ())]

    after = f"127.0.0.1:{cluster.failover()}"

    assert client.get("/readyz").json()["broker_master"] == after
    samples = master_samples(client.get("/metrics"))
    assert samples[("commission_broker_up", ())] == 1
    assert samples[("commission_broker_master_info", (("address", after),))] == 1
    assert ("commission_broker_master_info", (("address", before),)) not in samples
    assert samples[("commission_broker_master_config_epoch", ())] > epoch_before
    assert samples[("commission_broker_master_changed_timestamp_seconds", ())] > changed_before


@pytest.mark.django_db
def test_the_send_rate_is_kept_on_the_new_master_after_a_failover(settings, cluster):
    settings.CELERY_BROKER_URL = cluster.broker_url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = cluster.transport_options
    settings.EMAIL_RATE_LIMIT = 1000
    rate_limit.wait_for_turn()
    assert cluster.redis_at(cluster.master_port).exists(rate_limit.KEY)

    after = cluster.failover()
    # The slot kept before the failover may be on the new master already (replicated)
    # or not: either way the next send reserves its slot there.
    cluster.redis_at(after).delete(rate_limit.KEY)

    rate_limit.wait_for_turn()  # raises NotYourTurn if the limiter could not reach Redis
    assert cluster.redis_at(after).exists(rate_limit.KEY)


def healthcheck(queue: str, host: str, env: dict, workdir) -> subprocess.CompletedProcess:
    """ops/scripts/worker-healthcheck.sh (the watchdog's ping) for <queue>@<host>."""
    fake_bin = workdir / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "hostname").write_text(f"#!/bin/sh\necho {host}\n")
    (fake_bin / "hostname").chmod(0o755)
    return subprocess.run(
        [str(HEALTHCHECK), queue],
        env={**env, "PATH": f"{fake_bin}:{os.environ['PATH']}", "WORKER_HEALTHCHECK_TIMEOUT": "15"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["failover", "kill_master"])
def test_a_worker_consumes_after_a_failover_by_itself(worker_pool, cluster, tmp_path, how):
    """celery#10096: workers reported to stop consuming after a Sentinel failover. Both a
    SENTINEL FAILOVER and a master killed with -9 (started again afterwards, as a replica)."""
    # Not the current app: later tests' .delay() must keep the product's app and broker.
    probe = Celery("sentinel-probe", broker=cluster.broker_url, set_as_current=False)
    probe.conf.broker_transport_options = cluster.transport_options
    env = {**worker_pool.common_env, **cluster.env()}
    worker = WorkerProcess(probe, "email", env, tmp_path / "worker.log")
    queue, host = worker.nodename.split("@")
    try:
        first = probe.send_task(RECONCILE_TASK, exchange="email", routing_key="email")
        wait_for_result(first.id, "SUCCESS", timeout=60)

        if how == "failover":
            cluster.failover()
        else:
            killed, new_master = cluster.kill_master()
            cluster.restart(killed)
            cluster.wait_until_settled(new_master)

        second = probe.send_task(RECONCILE_TASK, exchange="email", routing_key="email")
        wait_for_result(second.id, "SUCCESS", timeout=120)
        assert worker.process.poll() is None, "the same worker process, not a restarted one"
        # The watchdog's ping goes through Sentinel too, and the worker answers it.
        checked = healthcheck(queue, host, env, tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    except BaseException:
        print(worker.log())
        raise
    finally:
        worker.stop()
        probe.close()


def flower_task_state(flower: FlowerProcess, task_id: str) -> str | None:
    answer = flower.get(f"/api/task/info/{task_id}", auth=flower.auth)
    return answer.json().get("state") if answer.ok else None


def flower_queue_lengths(flower: FlowerProcess) -> dict[str, int]:
    """What the Broker page shows, through its API (the page and it build the same client)."""
    answer = flower.get("/api/queues/length", auth=flower.auth)
    assert answer.status_code == 200, f"{answer.status_code} {answer.text}\n{flower.log()}"
    return {queue["name"]: queue["messages"] for queue in answer.json()["active_queues"]}


@pytest.mark.django_db(transaction=True)
def test_flower_follows_the_master_and_its_broker_page_asks_every_sentinel(worker_pool, tmp_path):
    """Operators keep Flower through a failover: the worker, the tasks after it and the
    Broker page, which keeps answering with the first Sentinel of the URL gone
    (backend/patches/flower.py). Its own cluster: this one loses a Sentinel."""
    with sentinel_cluster(tmp_path / "cluster") as cluster:
        probe = Celery("sentinel-flower-probe", broker=cluster.broker_url, set_as_current=False)
        probe.conf.broker_transport_options = cluster.transport_options
        env = {**worker_pool.common_env, **cluster.env()}
        worker = WorkerProcess(probe, "email", env, tmp_path / "worker.log")
        flower_env = {key: value for key, value in env.items() if not key.startswith("FLOWER_")}
        flower = FlowerProcess(
            {
                **flower_env,
                "FLOWER_BASIC_AUTH": "ops:flower-sentinel-test",
                "FLOWER_STATE_FILE": str(tmp_path / "flower" / "state"),
            },
            tmp_path / "flower.log",
        )
        try:
            flower.wait_for_events_from(worker.nodename)
            assert "email" in flower_queue_lengths(flower)

            cluster.kill_master()  # not restarted: the host is gone

            # Flower's event stream finds the new master by itself, retrying with its own
            # backoff. Events are not queued for a listener that is reconnecting, so a task
            # run before it is back never shows: send tasks until one shows.
            sent = []

            def a_task_run_after_the_kill_shows() -> bool:
                task = probe.send_task(RECONCILE_TASK, exchange="email", routing_key="email")
                wait_for_result(task.id, "SUCCESS", timeout=120)
                sent.append(task.id)
                return any(flower_task_state(flower, task_id) == "SUCCESS" for task_id in sent)

            wait_for(
                a_task_run_after_the_kill_shows,
                timeout=90,
                interval=1,
                what="Flower to show a task run after the failover",
            )
            workers = flower.get("/api/workers", params={"refresh": "1"}, auth=flower.auth)
            assert worker.nodename in workers.json()
            assert "email" in flower_queue_lengths(flower)

            cluster.stop_sentinel(cluster.sentinel_ports[0])

            assert "email" in flower_queue_lengths(flower)
            page = flower.get("/broker", auth=flower.auth)
            assert page.status_code == 200 and '<tr id="email">' in page.text
        except BaseException:
            print(worker.log(), flower.log(), sep="\n")
            raise
        finally:
            flower.stop()
            worker.stop()
            probe.close()
