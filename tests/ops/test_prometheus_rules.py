"""The Prometheus config, rules and rule unit tests under ops/prometheus, checked by the real promtool.

promtool comes with the Debian prometheus package (`make tools`); these tests fail, not skip, without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "ops" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "rules" / "borderbus.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOKS = REPO_ROOT / "ops" / "runbooks"


def promtool(*args: str) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: run `make tools` (Debian package prometheus provides it)")
    proc = subprocess.run([binary, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules_of_kind(kind: str) -> list[dict[str, Any]]:
    return [rule for group in load(RULES_FILE)["groups"] for rule in group["rules"] if kind in rule]


def test_config_is_valid() -> None:
    promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))


def test_rules_are_valid() -> None:
    promtool("check", "rules", str(RULES_FILE))


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool rule tests under ops/prometheus/tests"
    promtool("test", "rules", *(str(path) for path in RULE_TESTS))


def test_every_alert_is_tested_firing_and_not_firing_and_has_a_runbook() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        test_file = load(path)
        rule_files = [(path.parent / name).resolve() for name in test_file["rule_files"]]
        assert rule_files == [RULES_FILE.resolve()], f"{path.name} must test {RULES_FILE.relative_to(REPO_ROOT)}"
        for group in test_file["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])

    alerts = rules_of_kind("alert")
    assert alerts
    problems = []
    for rule in alerts:
        name = rule["alert"]
        if name not in firing:
            problems.append(f"{name}: no promtool test where it fires (alert_rule_test with exp_alerts)")
        if name not in quiet:
            problems.append(f"{name}: no promtool test where it stays quiet (alert_rule_test with empty exp_alerts)")
        if rule.get("labels", {}).get("severity") not in ("page", "ticket"):
            problems.append(f"{name}: severity label must be page or ticket")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            if not annotations.get(key):
                problems.append(f"{name}: no {key} annotation")
        expected_url = f"ops/runbooks/{name}.md"
        if annotations.get("runbook_url") != expected_url:
            problems.append(f"{name}: runbook_url {annotations.get('runbook_url')!r}, expected {expected_url!r}")
        if not (RUNBOOKS / f"{name}.md").is_file():
            problems.append(f"{name}: runbook {expected_url} does not exist")
    tested_elsewhere = (firing | quiet) - {rule["alert"] for rule in alerts}
    if tested_elsewhere:
        problems.append(f"tests name alerts that the rules do not define: {sorted(tested_elsewhere)}")
    assert not problems, "\n".join(problems)


def test_every_recording_rule_is_evaluated_by_a_unit_test() -> None:
    exprs = [case["expr"] for path in RULE_TESTS for group in load(path)["tests"] for case in group.get("promql_expr_test", [])]
    untested = [rule["record"] for rule in rules_of_kind("record") if not any(rule["record"] in expr for expr in exprs)]
    assert not untested, f"recording rules without a promql_expr_test: {untested}"


def test_scrape_jobs_are_matched_by_the_service_down_alert() -> None:
    """BorderbusServiceDown selects up{job=~"borderbus.*"}: a job named otherwise would go unwatched."""
    jobs = [job["job_name"] for job in load(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]]
    assert sorted(jobs) == ["borderbus-agency", "borderbus-broker", "borderbus-correlator", "borderbus-desk"]
    (service_down,) = [rule for rule in rules_of_kind("alert") if rule["alert"] == "BorderbusServiceDown"]
    assert 'job=~"borderbus.*"' in service_down["expr"]
