"""The Helm chart lints, renders and validates offline, and keeps the invariants operators rely on.

Runs the real helm (.local/bin/helm, built by `make tools`) and validates every rendered manifest against
the Kubernetes 1.30 schemas of kubernetes-validate; the Prometheus Operator's kinds, which those schemas do
not know, are checked field by field.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = REPO / ".local" / "bin" / "helm"
CHART = REPO / "deploy" / "helm" / "borderbus"
OPS_RULES = REPO / "ops" / "prometheus" / "rules" / "borderbus.yml"
KUBERNETES_VERSION = "1.30.0"
CONFIG_FILES = ("agencies.yaml", "border_points.yaml", "topics.yaml", "sharing.yaml", "rules.yaml", "desk.yaml")
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}  # monitoring.coreos.com/v1 CRDs: absent from the Kubernetes schemas
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}
VALUES = {"default": CHART / "values.yaml", "production": CHART / "values-production.yaml"}
PROFILES = list(VALUES)
VARIANTS = {
    "production-one-process": ("production", ("--set", "correlator.split.enabled=false")),
    "default-split": ("default", ("--set", "correlator.split.enabled=true")),
}
"""A profile with settings on top: its manifests go through the checks every profile's do."""
ALL_SHAPES = PROFILES + list(VARIANTS)

Manifest = dict[str, Any]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if not HELM.is_file():
        pytest.fail(f"{HELM} is missing: run make tools", pytrace=False)
    result = subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}", pytrace=False)
    return result


def template(*extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return helm(
        "template", "borderbus", str(CHART), "--namespace", "borderbus", "--kube-version", KUBERNETES_VERSION, *extra, check=check
    )


@functools.cache
def render(profile: str) -> tuple[Manifest, ...]:
    base, settings = VARIANTS.get(profile, (profile, ()))
    output = template("-f", str(VALUES[base]), *settings).stdout
    return tuple(doc for doc in yaml.safe_load_all(output) if doc)


def values(profile: str) -> dict[str, Any]:
    """The profile's values over the chart defaults (lists replace, maps merge, as helm does)."""

    def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        return merged

    base = VARIANTS.get(profile, (profile, ()))[0]
    return merge(yaml.safe_load(VALUES["default"].read_text()), yaml.safe_load(VALUES[base].read_text()))


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def component(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/component"])


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict(profile: str) -> None:
    result = helm("lint", str(CHART), "--strict", "--kube-version", KUBERNETES_VERSION, "-f", str(VALUES[profile]), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def check_operator_resource(manifest: Manifest) -> list[str]:
    """The fields the Prometheus Operator requires of the two kinds the chart renders."""
    name = manifest.get("metadata", {}).get("name")
    problems = [] if name else ["metadata.name missing"]
    if manifest.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"apiVersion {manifest.get('apiVersion')!r}")
    spec = manifest.get("spec", {})
    if manifest["kind"] == "ServiceMonitor":
        if not isinstance(spec.get("selector", {}).get("matchLabels"), dict):
            problems.append("spec.selector.matchLabels missing")
        endpoints = spec.get("endpoints")
        if not endpoints or not all(isinstance(e.get("port"), str) and str(e.get("path", "")).startswith("/") for e in endpoints):
            problems.append(f"spec.endpoints need a port name and a path: {endpoints!r}")
    else:
        for group in spec.get("groups") or [None]:
            if not group or not isinstance(group.get("name"), str) or not group.get("rules"):
                problems.append(f"group without name or rules: {group!r}")
                continue
            for rule in group["rules"]:
                if ("alert" in rule) == ("record" in rule) or not isinstance(rule.get("expr"), str):
                    problems.append(f"rule needs exactly one of alert/record, and an expr: {rule!r}")
    return [f"{manifest['kind']}/{name}: {problem}" for problem in problems]


@pytest.mark.parametrize("profile", ALL_SHAPES)
def test_every_manifest_validates_against_kubernetes_schemas(profile: str) -> None:
    manifests = render(profile)
    problems: list[str] = []
    for manifest in manifests:
        if manifest["kind"] in OPERATOR_KINDS:
            problems += check_operator_resource(manifest)
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(
                f"{manifest['kind']}/{manifest['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}"
            )
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(error.message)
    assert not problems, "\n".join(problems)
    kinds = Counter(m["kind"] for m in manifests)
    expected = {"ConfigMap", "Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "Job"}
    if profile.startswith("production"):
        expected |= {"HorizontalPodAutoscaler", *OPERATOR_KINDS}
    assert expected <= set(kinds), kinds


@pytest.mark.parametrize("profile", ALL_SHAPES)
def test_every_pod_is_locked_down_and_bounded(profile: str) -> None:
    problems: list[str] = []
    workloads = [m for m in render(profile) if m["kind"] in WORKLOAD_KINDS]
    for workload in workloads:
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod = workload["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        if pod_security.get("runAsNonRoot") is not True or pod_security.get("seccompProfile") != {"type": "RuntimeDefault"}:
            problems.append(f"{where}: pod securityContext {pod_security}")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service-account token")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            at = f"{where} container {container['name']}"
            security = container.get("securityContext", {})
            if not (
                security.get("runAsNonRoot") is True
                and security.get("readOnlyRootFilesystem") is True
                and security.get("allowPrivilegeEscalation") is False
                and security.get("capabilities", {}).get("drop") == ["ALL"]
                and security.get("seccompProfile") == {"type": "RuntimeDefault"}
            ):
                problems.append(f"{at}: securityContext {security}")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(bound, {})):
                    problems.append(f"{at}: resources.{bound} lacks cpu or memory: {resources}")
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            if len(tmp) != 1 or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
                problems.append(f"{at}: /tmp is not an emptyDir")
            if workload["kind"] != "Job":
                liveness = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
                readiness = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
                if liveness != "/healthz" or readiness not in ("/readyz", "/healthz"):
                    problems.append(f"{at}: probes liveness={liveness} readiness={readiness}")
    assert workloads
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("profile", ALL_SHAPES)
def test_every_service_workload_has_a_service_and_a_disruption_budget(profile: str) -> None:
    manifests = render(profile)
    services = of_kind(manifests, "Service")
    budgets = of_kind(manifests, "PodDisruptionBudget")
    for workload in of_kind(manifests, "Deployment") + of_kind(manifests, "StatefulSet"):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        name = workload["metadata"]["name"]
        assert [s for s in services if selects(s["spec"]["selector"], labels)], f"no Service selects {name}"
        assert [b for b in budgets if selects(b["spec"]["selector"]["matchLabels"], labels)], (
            f"no PodDisruptionBudget covers {name}"
        )


@pytest.mark.parametrize("profile", PROFILES)
def test_one_deployment_per_agency_in_the_values(profile: str) -> None:
    expected = Counter(entry["code"] for entry in values(profile)["agencies"])
    deployments = [d for d in of_kind(render(profile), "Deployment") if component(d) == "agency"]
    served = Counter()
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        served[args[args.index("--agency") + 1]] += 1
        assert args[args.index("--instance-id") + 1] == "$(POD_NAME)"
        assert env_of(container)["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert served == expected
    assert len(expected) == (10 if profile == "default" else 3)


@pytest.mark.parametrize("profile", PROFILES)
def test_each_agency_service_reads_its_callers_from_a_secret_and_no_token_is_in_values(profile: str) -> None:
    deployments = [d for d in of_kind(render(profile), "Deployment") if component(d) == "agency"]
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert env_of(container)["BORDERBUS_AGENCY_CLIENTS_FILE"]["value"] == "/etc/borderbus/clients/agency-clients.yaml"
        (volume,) = [v for v in pod["volumes"] if v["name"] == "clients"]
        assert volume["secret"]["secretName"] == values(profile)["agency"]["clientsSecret"]
        assert any(m["mountPath"] == "/etc/borderbus/clients" and m["readOnly"] for m in container["volumeMounts"])
    result = template("--set", "agency.clientsSecret=", check=False)
    assert result.returncode != 0 and "agency.clientsSecret is required" in result.stderr


def test_an_agency_missing_from_agencies_yaml_is_refused() -> None:
    result = template("--set", "agencies[0].code=xx-nowhere", check=False)
    assert result.returncode != 0
    assert 'agency "xx-nowhere" is not in agencies.yaml' in result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_topics_job_runs_before_install_and_upgrade(profile: str) -> None:
    manifests = render(profile)
    (job,) = [j for j in of_kind(manifests, "Job") if component(j) == "topics"]
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["topics", "apply"]
    assert env_of(container)["BORDERBUS_CLUSTER_PROFILE"]["value"] == ("production" if profile == "production" else "local")
    # Hooks run before the release's own resources exist: the Job's ConfigMap must be an earlier hook.
    (config_name,) = [v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    (config_map,) = [c for c in of_kind(manifests, "ConfigMap") if c["metadata"]["name"] == config_name]
    config_hook = config_map["metadata"].get("annotations", {})
    assert "pre-install" in config_hook.get("helm.sh/hook", "")
    assert int(config_hook["helm.sh/hook-weight"]) < int(annotations.get("helm.sh/hook-weight", 0))


@pytest.mark.parametrize(
    "settings",
    [["correlator.replicas=7"], ["correlator.autoscaling.enabled=true", "correlator.autoscaling.maxReplicas=7"]],
    ids=["replicas", "hpa-max-replicas"],
)
def test_more_correlator_workers_than_partitions_are_refused(settings: list[str]) -> None:
    refused = template(*[arg for setting in settings for arg in ("--set", setting)], check=False)
    assert refused.returncode != 0
    assert "exceeds correlator.maxPartitions=6" in refused.stderr
    at_limit = [setting.replace("=7", "=6") for setting in settings]
    assert template(*[arg for setting in at_limit for arg in ("--set", setting)], check=False).returncode == 0


def test_max_partitions_is_the_partition_count_of_the_correlator_inputs() -> None:
    catalogue = yaml.safe_load((REPO / "ops" / "config" / "topics.yaml").read_text())
    by_name = {topic["name"]: topic["partitions"] for topic in catalogue["topics"]}
    inputs = [catalogue["ingest"]["partitions"], by_name["correlator.by-subject"], by_name["correlator.decisions"]]
    assert values("default")["correlator"]["maxPartitions"] == min(inputs)


@pytest.mark.parametrize("profile", PROFILES)
def test_correlator_and_desk_have_stable_names(profile: str) -> None:
    manifests = render(profile)
    sets = {component(s): s for s in of_kind(manifests, "StatefulSet")}
    assert set(sets) == {"correlator", "desk"}
    assert sets["desk"]["spec"]["replicas"] == 1
    correlator = sets["correlator"]
    containers = correlator["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == (["fan-out", "correlator"] if profile == "production" else ["correlator"])
    for container in containers:
        assert container["args"][container["args"].index("--instance-id") + 1] == "$(POD_NAME)"
        assert container["args"][container["args"].index("--web-host") + 1] == "0.0.0.0"  # probes and Prometheus reach it
    autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
    if profile == "production":
        (hpa,) = autoscalers
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": correlator["metadata"]["name"],
        }
        assert hpa["spec"]["minReplicas"] == 3
        assert "replicas" not in correlator["spec"]  # the autoscaler owns it
    else:
        assert not autoscalers
        assert correlator["spec"]["replicas"] == 1


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_chart_config_is_a_copy_of_ops_config(name: str) -> None:
    original = (REPO / "ops" / "config" / name).read_text()
    assert (CHART / "files" / "config" / name).read_text() == original, f"cp ops/config/{name} {CHART}/files/config/"
    (config_map,) = [c for c in of_kind(render("default"), "ConfigMap") if c["metadata"]["name"] == "borderbus-config"]
    assert config_map["data"][name] == original


def test_prometheus_rule_carries_the_groups_of_the_ops_rules() -> None:
    assert OPS_RULES.is_file(), f"{OPS_RULES} is missing"
    (rule,) = of_kind(render("production"), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(OPS_RULES.read_text())["groups"], (
        f"cp {OPS_RULES} {CHART}/files/prometheus-rules.yml"
    )


def test_service_monitor_scrapes_every_service_as_the_rules_expect() -> None:
    manifests = render("production")
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    scraped = [
        s for s in of_kind(manifests, "Service") if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    assert Counter(component(s) for s in scraped) == Counter({"agency": 3, "correlator": 2, "desk": 1})  # two processes
    (endpoint,) = monitor["spec"]["endpoints"]
    assert all(endpoint["port"] in [p["name"] for p in s["spec"]["ports"]] for s in scraped)
    # The rules select job=~"borderbus.*"; the local Prometheus names its jobs borderbus-<component>.
    (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    jobs = {relabel["replacement"].replace("$1", component(s)) for s in scraped}
    local_jobs = {
        job["job_name"] for job in yaml.safe_load((REPO / "ops" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert relabel["sourceLabels"] == ["__meta_kubernetes_service_label_app_kubernetes_io_component"]
    assert jobs <= local_jobs, (jobs, local_jobs)


@pytest.mark.parametrize("profile", ["production", "default-split"])
def test_a_split_worker_runs_each_stage_once_across_two_probed_and_scraped_containers(profile: str) -> None:
    from borderbus_correlator.app import STAGES

    manifests = render(profile)
    (correlator,) = [s for s in of_kind(manifests, "StatefulSet") if component(s) == "correlator"]
    containers = correlator["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 2
    stages = [stage for c in containers for stage in c["args"][c["args"].index("--stages") + 1].split(",")]
    assert sorted(stages) == sorted(STAGES)  # every stage, none twice (two alert publishers would fence each other)
    ports = {c["name"]: c["ports"][0] for c in containers}
    assert len({port["containerPort"] for port in ports.values()}) == 2
    for container in containers:
        args = container["args"]
        assert args[args.index("--web-port") + 1] == str(ports[container["name"]]["containerPort"])
        assert args[args.index("--instance-id") + 1] == "$(POD_NAME)"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] == ports[container["name"]]["name"], (container["name"], probe)
    values = yaml.safe_load(VALUES[VARIANTS.get(profile, (profile, ()))[0]].read_text())["correlator"]
    resources = {c["name"]: c["resources"] for c in containers}
    assert resources["correlator"] == values["resources"]
    assert resources["fan-out"] == (values["split"].get("fanOutResources") or values["resources"])
    monitors = of_kind(manifests, "ServiceMonitor")
    if not monitors:  # the default profile has no Prometheus Operator
        return
    (monitor,) = monitors
    scraped = [
        s for s in of_kind(manifests, "Service") if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
    ]
    (endpoint,) = monitor["spec"]["endpoints"]
    correlator_services = [s for s in scraped if component(s) == "correlator"]
    targets = {p["targetPort"] for s in correlator_services for p in s["spec"]["ports"] if p["name"] == endpoint["port"]}
    assert targets == {port["name"] for port in ports.values()}  # Prometheus reaches both processes


CREDENTIALS_DIR = "/etc/borderbus/kafka-credentials"
EXPECTED_PRINCIPALS = {"agency": None, "correlator": ["correlator"], "desk": ["desk-reader", "desk-router", "desk-actions"]}


def principals_of(pod: Manifest) -> dict[str, str]:
    """principal -> Secret name, from the pod's projected credentials volume."""
    (volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-credentials"]
    return {
        item["path"]: source["secret"]["name"] for source in volume["projected"]["sources"] for item in source["secret"]["items"]
    }


@pytest.mark.parametrize("profile", ALL_SHAPES)
def test_each_workload_authenticates_as_its_own_principal_from_its_own_secret(profile: str) -> None:
    manifests = render(profile)
    assert not of_kind(manifests, "Secret"), "the chart never carries a password"
    overrides = values(profile)["kafka"]["principals"].get("secrets") or {}
    for workload in (w for w in manifests if w["kind"] in WORKLOAD_KINDS):
        pod = workload["spec"]["template"]["spec"]
        secrets = principals_of(pod)
        for principal, secret in secrets.items():
            assert secret == overrides.get(principal, f"borderbus-kafka-{principal}")
        for container in pod.get("initContainers", []) + pod["containers"]:
            env = env_of(container)
            assert "KAFKA_SASL_PASSWORD" not in env and "KAFKA_SASL_USERNAME" not in env
            assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
            assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
            assert env["BORDERBUS_CREDENTIALS_DIR"]["value"] == CREDENTIALS_DIR
            assert CREDENTIALS_DIR in [m["mountPath"] for m in container["volumeMounts"]]
            if "KAFKA_SSL_CA_LOCATION" in env:
                assert str(Path(env["KAFKA_SSL_CA_LOCATION"]["value"]).parent) in [
                    m["mountPath"] for m in container["volumeMounts"]
                ]
            principal = env.get("BORDERBUS_PRINCIPAL", {}).get("value")
            kind = component(workload)
            if kind == "agency":
                code = workload["metadata"]["labels"]["borderbus.io/agency"]
                assert principal == f"agency-{code}" and list(secrets) == [principal]
            elif kind in ("topics", "access"):
                assert principal == "admin"
            elif kind == "correlator":
                assert principal == "correlator" and list(secrets) == ["correlator"]
            else:  # the desk: each part as its own principal, no single identity for the pod
                assert kind == "desk" and principal is None
                assert sorted(secrets) == sorted(EXPECTED_PRINCIPALS["desk"])


@pytest.mark.parametrize("profile", PROFILES)
def test_access_job_applies_users_then_acls_after_the_topics(profile: str) -> None:
    manifests = render(profile)
    jobs = {component(j): j for j in of_kind(manifests, "Job")}
    access, topics = jobs["access"], jobs["topics"]
    assert set(access["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    weight = int(access["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight > int(topics["metadata"]["annotations"].get("helm.sh/hook-weight", 0))
    pod = access["spec"]["template"]["spec"]
    assert [c["args"] for c in pod["initContainers"]] == [["users", "apply"]]
    assert [c["args"] for c in pod["containers"]] == [["acls", "apply"]]
    # it sets every principal's credential, so it mounts every principal's Secret
    agencies = [a["code"] for a in yaml.safe_load((REPO / "ops" / "config" / "agencies.yaml").read_text())["agencies"]]
    expected = {f"{kind}-{code}" for code in agencies for kind in ("agency", "consumer")}
    expected |= {"correlator", "desk-reader", "desk-router", "desk-actions", "observer", "admin"}
    assert set(principals_of(pod)) == expected
    # its configuration (with sharing.yaml) is the hook ConfigMap made before it
    (config_name,) = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    (config_map,) = [c for c in of_kind(manifests, "ConfigMap") if c["metadata"]["name"] == config_name]
    assert "sharing.yaml" in config_map["data"]
    assert int(config_map["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight


def test_access_job_can_be_left_to_another_operator() -> None:
    output = template("-f", str(VALUES["production"]), "--set", "accessJob.enabled=false").stdout
    assert "access" not in [component(d) for d in yaml.safe_load_all(output) if d and d["kind"] == "Job"]


def test_dockerfile_is_pinned_multi_stage_and_runs_unprivileged() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    stages = [re.match(r"FROM (\S+)(?: AS (\S+))?$", line) for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2 and all(stages), "multi-stage: FROM <image> AS <name>"
    for stage in stages:
        assert stage and re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", stage[1]), (
            f"base not pinned by tag and digest: {stage}"
        )
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    (user,) = [line.split()[1] for line in final if line.startswith("USER ")]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"USER must be a numeric non-root uid, got {user}"
    assert not [line for line in final if re.search(r"build-essential|\bgcc\b|\bg\+\+", line)], "compilers in the final stage"
    assert json.loads(next(line for line in final if line.startswith("ENTRYPOINT "))[len("ENTRYPOINT ") :]) == ["borderbus"]
