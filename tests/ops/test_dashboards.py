"""Grafana dashboards (ops/grafana/dashboards): importable into any Grafana, every query valid PromQL, and every
metric they read one that the running services really expose, so renaming a metric breaks this test, not a dashboard
in production.

Syntax is checked by Prometheus's own parser (``promtool check rules``); metric names against the LIVE ``/metrics`` of
an agency service, a correlator worker, the duty desk and the broker's JMX exporter agent.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from borderbus.bus import Bus
from correlator_worker import CorrelatorWorker
from local_kafka import broker_metrics_address
from metric_names import PROMETHEUS_SYNTHETIC, exposed_metric_names, fetch_exposition, promql_metric_names
from service_process import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "ops" / "grafana" / "dashboards"
EXPECTED_DASHBOARDS = ("borderbus-overview", "borderbus-correlator", "borderbus-duty-desk", "borderbus-broker")
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Values Grafana puts in for its built-in variables; any valid duration or number does for a syntax check.
BUILTIN_VARIABLES = {
    "__rate_interval": "4m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__from": "1700000000000",
    "__to": "1700003600000",
}
# $name, ${name}, ${name:format}, ${name.field}, [[name]], [[name:format]] as Grafana reads them.
_VARIABLE = re.compile(r"\$\{(?P<braced>\w+)(?:\.[^:}]+)?(?::[^}]+)?\}|\[\[(?P<bracketed>\w+)(?::\w+)?\]\]|\$(?P<plain>\w+)")


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str
    expr: str


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Panels at any depth: a collapsed row keeps its panels inside itself."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard.get("templating", {}).get("list", []))


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """One value per dashboard variable that keeps a query valid: a custom variable's current option, ``.*`` for
    label values (they end up in regex matchers)."""
    values = dict(BUILTIN_VARIABLES)
    for variable in variables(dashboard):
        current = variable.get("current", {}).get("value")
        options = [option["value"] for option in variable.get("options", [])]
        if variable["type"] in {"custom", "interval", "constant", "textbox"}:
            values[variable["name"]] = (
                current if isinstance(current, str) else (options[0] if options else str(variable["query"]))
            )
        else:
            values[variable["name"]] = variable.get("allValue") or ".*"
    return values


def referenced_variables(text: str) -> set[str]:
    """Variables a query refers to; ``$1``-style regex backreferences (label_replace) are not variables."""
    names = {next(group for group in match.groups() if group) for match in _VARIABLE.finditer(text)}
    return {name for name in names if not name.isdigit()}


def substitute_variables(text: str, values: dict[str, str]) -> str:
    """Grafana's interpolation for one set of values; unknown names stay (promtool then rejects them)."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return values.get(name, match.group())

    return _VARIABLE.sub(replace, text)


def variable_query_expression(query: str) -> str | None:
    """The PromQL inside a Prometheus template variable query (``label_values(expr, label)``,
    ``query_result(expr)``), or None for the forms that have none (``label_values(label)``, ``label_names()``,
    ``metrics(regex)``)."""
    if match := re.fullmatch(r"\s*label_values\((?P<expr>.*),\s*\w+\s*\)\s*", query, re.DOTALL):
        return match["expr"]
    if re.fullmatch(r"\s*(label_values\(\s*\w+\s*\)|label_names\(.*\)|metrics\(.*\))\s*", query, re.DOTALL):
        return None
    if match := re.fullmatch(r"\s*query_result\((?P<expr>.*)\)\s*", query, re.DOTALL):
        return match["expr"]
    return query


def raw_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, expression before interpolation)`` for every panel target and template variable query."""
    found = []
    for panel in all_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                found.append((f"panel {panel.get('title')!r} target {target.get('refId')}", str(target["expr"])))
    for variable in variables(dashboard):
        if variable["type"] == "query":
            query = variable["query"]
            text = query.get("query", "") if isinstance(query, dict) else str(query)
            expression = variable_query_expression(text)
            if expression is not None:
                found.append((f"variable {variable['name']!r}", expression))
    return found


def dashboard_queries(path: Path) -> list[Query]:
    dashboard = load(path)
    values = variable_values(dashboard)
    return [Query(path.name, where, substitute_variables(expr, values)) for where, expr in raw_queries(dashboard)]


# --------------------------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        pytest.param(
            'sum by (agency, event_type) (rate(borderbus_x_total{agency=~"a|b", reason!="x{y} sum(z)"}[5m]))',
            {"borderbus_x_total"},
            id="matchers-with-braces-and-calls-in-strings",
        ),
        pytest.param(
            "histogram_quantile(0.99, sum without (instance) (rate(lat_seconds_bucket[5m:30s] offset 1h)))",
            {"lat_seconds_bucket"},
            id="subquery-offset-without",
        ),
        pytest.param(
            "rate(a_total[1h30m]) / on (job) group_left (team, tier) team_info > bool 0.5 unless ignoring(le) c",
            {"a_total", "team_info", "c"},
            id="vector-matching",
        ),
        pytest.param('label_replace(up, "dst", "$1 by (x) foo", "src", "(.*)")', {"up"}, id="strings-with-keywords"),
        pytest.param('{__name__="named_by_matcher", job="j"} + {__name__=~"regex_.*"}', {"named_by_matcher"}, id="name-matcher"),
        pytest.param('count_values("value", build_info) or vector(1) - time()', {"build_info"}, id="functions-without-metrics"),
        pytest.param(
            "1e3 * 0x1F + Inf - NaN * job:rate5m:sum @ end() offset -5m", {"job:rate5m:sum"}, id="numbers-and-modifiers"
        ),
        pytest.param("a # b_total is commented out\n + c", {"a", "c"}, id="comment"),
        pytest.param("topk(5, sum by(le)(rate(x[5m]))) != 0", {"x"}, id="no-spaces"),
        pytest.param("SUM BY (job) (a) OR Sum WITHOUT (x) (b) AND ON (y) c", {"a", "b", "c"}, id="upper-case-keywords"),
        pytest.param(r"""a{x='it\'s {b}', y=`raw "q" }`} and d""", {"a", "d"}, id="quotes-and-escapes"),
        pytest.param("sum(rate(x[5m])) by (le, instance)", {"x"}, id="grouping-after-aggregation"),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_labelled_metrics_without_samples_still_count_as_exposed() -> None:
    """prometheus_client prints HELP/TYPE for a labelled metric with no child yet; that must be enough."""
    registry = CollectorRegistry()
    Counter("demo_rejected_total", "h", ["reason"], registry=registry)
    Histogram("demo_latency_seconds", "h", ["agency"], registry=registry)
    Histogram("demo_plain_seconds", "h", registry=registry)
    Gauge("demo_lag_records", "h", ["topic"], registry=registry)
    text = generate_latest(registry).decode()
    assert "demo_latency_seconds_bucket" not in text
    names = exposed_metric_names(text)
    assert {
        "demo_rejected_total",
        "demo_latency_seconds_bucket",
        "demo_latency_seconds_sum",
        "demo_latency_seconds_count",
        "demo_plain_seconds_bucket",
        "demo_lag_records",
    } <= names
    assert "demo_rejected" not in names


def test_grafana_variables_are_interpolated() -> None:
    values = {**BUILTIN_VARIABLES, "agency": ".*", "window": "1h"}
    expr = 'rate(x{a=~"$agency", b=~"${agency:regex}", c=~"[[agency]]"}[$__rate_interval]) + y[$window] + z[${window}]'
    assert substitute_variables(expr, values) == 'rate(x{a=~".*", b=~".*", c=~".*"}[4m]) + y[1h] + z[1h]'
    assert referenced_variables('label_replace(x{a="$agency"}, "d", "$1", "s", "(.*)")') == {"agency"}
    assert substitute_variables("x[$undefined]", values) == "x[$undefined]"


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ('label_values(borderbus_x_total{agency=~"a,b"}, agency)', 'borderbus_x_total{agency=~"a,b"}'),
        ("label_values(job)", None),
        ("query_result(topk(3, x))", "topk(3, x)"),
        ("metrics(borderbus_.*)", None),
    ],
)
def test_variable_queries_yield_their_promql(query: str, expression: str | None) -> None:
    assert variable_query_expression(query) == expression


# --------------------------------------------------------------------------------------------- the files


def test_the_expected_dashboards_exist() -> None:
    assert {path.stem for path in DASHBOARDS} >= set(EXPECTED_DASHBOARDS)


def test_uids_and_titles_are_unique() -> None:
    dashboards = [load(path) for path in DASHBOARDS]
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    assert len({d["title"] for d in dashboards}) == len(dashboards)


def _datasources(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from _datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasources(item)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_imports_into_any_grafana(path: Path) -> None:
    """uid and title set, the Prometheus data source chosen by a variable, every panel says what it answers."""
    dashboard = load(path)
    assert dashboard["uid"] == path.stem and len(dashboard["uid"]) <= 40
    assert dashboard["title"].strip()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard.get("id") is None, "an exported id clashes on import"
    source_variables = [v for v in variables(dashboard) if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in source_variables] == [("datasource", "prometheus")]
    hard_coded = [ds for ds in _datasources(dashboard) if ds != DATASOURCE and ds.get("uid") != "-- Grafana --"]
    assert not hard_coded, f"data sources not taken from ${{datasource}}: {hard_coded}"

    panels = [panel for panel in all_panels(dashboard["panels"]) if panel["type"] != "row"]
    assert {"timeseries", "stat"} <= {panel["type"] for panel in panels}
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    problems = []
    for panel in panels:
        if not panel.get("description", "").strip():
            problems.append(f"{panel['title']!r} has no description")
        if not panel.get("targets"):
            problems.append(f"{panel['title']!r} has no query")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{panel['title']!r} does not use ${{datasource}}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_dashboard_uses_only_defined_variables(path: Path) -> None:
    dashboard = load(path)
    defined = set(variable_values(dashboard))
    undefined = [
        f"{where}: ${name}" for where, expr in raw_queries(dashboard) for name in sorted(referenced_variables(expr) - defined)
    ]
    assert not undefined, "undefined variables:\n" + "\n".join(undefined)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: run `make tools` (ops/setup/system-packages.sh installs it)")
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_query_is_valid_promql(path: Path, tmp_path: Path) -> None:
    """Each expression becomes a recording rule in its own group named after the panel, so promtool's
    complaint names the dashboard, panel and target."""
    queries = dashboard_queries(path)
    assert queries
    groups = [
        {
            "name": f"{query.dashboard} | {query.where} | #{number}",
            "rules": [{"record": f"dashboard:query_{number}", "expr": query.expr}],
        }
        for number, query in enumerate(queries)
    ]
    rules_file = tmp_path / f"{path.stem}.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False, width=1000))
    checked = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, f"invalid PromQL in {path.name}:\n{checked.stdout}{checked.stderr}"
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout + checked.stderr


# --------------------------------------------------------------------------------------------- live services


@pytest.fixture(scope="module")
def live_metric_names(bus: Bus, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Metric names by source, each read from the real process's /metrics."""
    logs = tmp_path_factory.mktemp("dashboard-services")
    jmx_url = f"http://{broker_metrics_address(kafka_bootstrap)}/metrics"
    try:
        broker = fetch_exposition(jmx_url)
    except OSError as error:
        pytest.fail(
            f"the broker's JMX exporter does not answer on {jmx_url} ({error}): a broker started before the agent was "
            "added runs without it; `bash ops/kafka/kafka.sh down && bash ops/kafka/kafka.sh up` attaches it",
            pytrace=False,
        )
    with ExitStack() as running:
        services = {
            "agency service": ServiceProcess(bus, logs, "agency", ["agency", "serve", "--agency", "uk-bf"]),
            "correlator worker": CorrelatorWorker(bus, logs, name="correlator"),
            "duty desk": ServiceProcess(bus, logs, "desk", ["desk", "serve"]),
        }
        for service in services.values():
            running.callback(service.stop)
            service.start()
        sources = {
            **{source: exposed_metric_names(service.metrics()) for source, service in services.items()},
            "broker JMX exporter": exposed_metric_names(broker),
        }
    own_prefix = {
        "agency service": "borderbus_agency_",
        "correlator worker": "borderbus_correlator_",
        "duty desk": "borderbus_desk_",
        "broker JMX exporter": "kafka_server_",
    }
    for source, prefix in own_prefix.items():
        assert any(name.startswith(prefix) for name in sources[source]), f"{source} exposes no {prefix}* metric"
    return sources


@pytest.mark.broker
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_metric_a_dashboard_reads_is_exposed(path: Path, live_metric_names: dict[str, set[str]]) -> None:
    exposed = set().union(*live_metric_names.values()) | PROMETHEUS_SYNTHETIC
    missing = []
    for query in dashboard_queries(path):
        for name in sorted(promql_metric_names(query.expr) - exposed):
            closest = difflib.get_close_matches(name, exposed, n=1)
            missing.append(f"{query.dashboard} | {query.where}: {name}" + (f" (exposed: {closest[0]}?)" if closest else ""))
    assert not missing, "metrics no service exposes:\n" + "\n".join(missing)
