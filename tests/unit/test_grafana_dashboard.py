"""deploy/grafana/orders-app.json imports as is and graphs only metrics the app exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from orders_app.observability.metrics import exposition

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "orders-app.json"

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
# PromQL words that look like metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def exported_names() -> set[str]:
    """Every series name the app's exposition can carry (a labelled family may have no samples yet)."""
    text, _ = exposition()
    names = set()
    for family in text_string_to_metric_families(text.decode()):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers not functions, labels or keywords."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        following = expr[match.end() :].lstrip()
        if word not in KEYWORDS and not following.startswith("("):
            names.add(word)
    return names


def panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found: list[dict[str, Any]] = dashboard["panels"]
    return found


def test_the_dashboard_is_importable_dashboard_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"]
    assert dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int)
    (source,) = dashboard["__inputs"]
    assert source["type"] == "datasource"
    assert source["pluginId"] == "prometheus"
    variable = "${" + source["name"] + "}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == variable, panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == variable
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_every_expression_uses_only_exported_metrics() -> None:
    exported = exported_names()
    used: set[str] = set()
    for panel in panels():
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, target["expr"]
            assert names <= exported, (panel["title"], names - exported)
            used |= names
    # Required panels: rate, errors, latency by route, in flight, pool saturation, 401s by reason.
    for name in (
        "orders_http_requests_total",
        "orders_http_request_duration_seconds_bucket",
        "orders_http_requests_in_flight",
        "orders_db_connections_in_use",
        "orders_db_checkout_waiting",
        "orders_auth_failures_total",
    ):
        assert name in used


def test_the_name_extraction_itself() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job=~"x",s="5xx"}[5m]))) / b_total'
    assert metric_names(expr) == {"a_bucket", "b_total"}
    assert metric_names("sum(nonexistent_metric)") == {"nonexistent_metric"}
