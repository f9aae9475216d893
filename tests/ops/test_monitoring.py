"""ops/monitoring/: the alert rules pass `promtool check rules` and their unit tests
(alerts.test.yml), every alert is tested firing and silent, the example scrape
configuration loads with them, and the Grafana dashboard parses and queries valid PromQL
over the metrics operators watch. (That each metric named is one /metrics or Flower
serves: tests/integration/test_monitoring.py, with a real Redis.)"""

import json
import re
import shutil
import subprocess

import pytest

from tests.ops.monitoring import (
    ALERT_TESTS,
    ALERTS,
    DASHBOARD,
    MONITORING,
    SCRAPE_CONFIG,
    alert_exprs,
    dashboard_exprs,
    metric_names,
)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing (Debian's prometheus package); `make test` installs it")
    return path


def run(*command: str, cwd=MONITORING) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_alert_rules_pass_promtools_check(promtool):
    checked = run(promtool, "check", "rules", ALERTS.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_exprs())} rules found" in checked.stdout


def test_the_alert_rules_pass_their_unit_tests(promtool):
    tested = run(promtool, "test", "rules", ALERT_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_tested_firing_and_silent():
    cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", ALERT_TESTS.read_text())
    fires = {name for name, silent in cases if not silent}
    stays_silent = {name for name, silent in cases if silent}
    alerts = set(alert_exprs())
    assert len(alerts) == ALERTS.read_text().count("- alert: ")
    assert fires == alerts
    assert stays_silent == alerts


def test_every_alert_says_how_bad_and_what_to_do_first():
    text = ALERTS.read_text()
    rules = re.split(r"\n\s+- alert: ", text)[1:]
    assert len(rules) == len(alert_exprs())
    for rule in rules:
        name = rule.split("\n", 1)[0]
        assert re.search(r"severity: (critical|warning)\n", rule), name
        assert "summary: " in rule and "description: " in rule, name


def test_the_alert_rules_cover_what_operators_asked_for():
    named = set().union(*map(metric_names, alert_exprs().values()))
    assert {
        "commission_owed_stalled_items",
        "commission_owed_oldest_age_seconds",
        "commission_queue_oldest_age_seconds",
        "commission_broker_up",
        "commission_broker_memory_used_bytes",
        "commission_month_deliveries",
        "commission_undeliverable_addresses",
        "flower_worker_online",
    } <= named


def test_the_example_scrape_configuration_loads_the_rules(promtool, tmp_path):
    """promtool checks the files it names exist: the secrets go in a directory of the
    test's, the rules beside the configuration, as its comment says."""
    config = SCRAPE_CONFIG.read_text().replace("/etc/prometheus/secrets/", f"{tmp_path}/")
    for secret in re.findall(rf"{tmp_path}/([\w-]+)", config):
        (tmp_path / secret).write_text("a-secret")
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ALERTS, tmp_path)

    checked = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
    # The jobs the rules name (CommissionMetricsUnreachable) are the jobs configured.
    jobs = set(re.findall(r"job_name: ([\w-]+)", config))
    assert jobs == {"commission-reports", "commission-flower"}
    assert all(job in alert_exprs()["CommissionMetricsUnreachable"] for job in jobs)


def test_the_dashboard_queries_valid_promql(promtool, tmp_path):
    """promtool parses each query as the expression of a recording rule."""
    exprs = dashboard_exprs()
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    (tmp_path / "dashboard-rules.yml").write_text(json.dumps(rules))  # JSON is YAML

    checked = run(promtool, "check", "rules", "dashboard-rules.yml", cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in checked.stdout


def test_the_dashboard_shows_what_operators_watch():
    dashboard = json.loads(DASHBOARD.read_text())
    named = set().union(*map(metric_names, dashboard_exprs()))
    assert {
        "commission_owed_items",
        "commission_owed_stalled_items",
        "commission_owed_oldest_age_seconds",
        "commission_queue_length",
        "commission_queue_oldest_age_seconds",
        "commission_month_deliveries",
        "commission_undeliverable_addresses",
        "commission_broker_memory_used_bytes",
        "commission_broker_memory_max_bytes",
    } <= named
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        # Whichever Prometheus the importer picks, and within Grafana's 24 columns.
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])


def test_metric_names_are_read_from_promql():
    expr = (
        'max by (queue) (label_replace(flower_worker_online{worker=~"a@.+"}, "queue", "$1",'
        ' "worker", "([^@]+)@.*")) == 0 or sum(rate(commission_webhook_refused_total[5m]))'
        " / max(commission_broker_memory_max_bytes > 0) > 3 * 3600"
    )
    assert metric_names(expr) == {
        "flower_worker_online",
        "commission_webhook_refused_total",
        "commission_broker_memory_max_bytes",
    }
