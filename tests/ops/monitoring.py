"""Reading ops/monitoring/ as Prometheus and Grafana read it: the metric names a PromQL
expression queries, the expressions of the alert rules and of the dashboard. (No YAML
library in the project: the rules file is read by its own regular layout, which
promtool checks.)"""

import json
import re
from pathlib import Path

from tests.support.processes import REPO_DIR

MONITORING = REPO_DIR / "ops" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERT_TESTS = MONITORING / "alerts.test.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
SCRAPE_CONFIG = MONITORING / "prometheus.yml"

# PromQL's own words, which read like metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
KEYWORDS |= {"unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metrics an expression selects: its names, less strings, label matchers, ranges,
    grouping label lists, function names and keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    words = re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()", expr)
    return set(words) - KEYWORDS


def alert_exprs(path: Path = ALERTS) -> dict[str, str]:
    """Each alert's expression, by alert name."""
    text = path.read_text()
    found = re.findall(r"- alert: (\w+)\n\s+expr: (?:>-\n)?(.*?)\n\s+for:", text, re.DOTALL)
    return {name: " ".join(expr.split()) for name, expr in found}


def dashboard_exprs(path: Path = DASHBOARD) -> list[str]:
    """Every query of the dashboard (its panels' targets and its variables') as Prometheus
    receives it: Grafana's variables filled in, `label_values(m, l)` asking for `m`."""
    dashboard = json.loads(path.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return [
        re.sub(r"label_values\((\w+),\s*\w+\)", r"\1", expr).replace("$period", ".*")
        for expr in exprs
    ]
