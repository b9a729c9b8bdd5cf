"""The expert registry: YAML shape, versioning, malformed files, concurrency, refresh, health, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import msgspec
import pytest

from lf.errors import ConfigError, ModelNotFoundError
from lf.experts import ExpertConfig, ExpertManager, HealthTracker, Replica, parse_registry, read_registry
from lf.experts.store import history_path
from lf.testing import run_cli
from lf.testing.cli import lf_executable

# The requirements' example (SRS 6.1.3), verbatim.
SRS_YAML = """\
experts:
  - name: "code-expert"
    model_path: "./models/code-expert"
    description: "Specialized in code generation and review"
    domains:
      - programming
      - debugging
      - code-review
    keywords:
      - code
      - function
      - class
      - debug
      - error
    endpoint: "http://localhost:8001"
    priority: 1

  - name: "writing-expert"
    model_path: "./models/writing-expert"
    description: "Specialized in creative and technical writing"
    domains:
      - creative-writing
      - documentation
      - marketing
    keywords:
      - write
      - essay
      - article
      - story
    endpoint: "http://localhost:8002"
    priority: 0
"""


def expert(name: str, **fields: object) -> ExpertConfig:
    return ExpertConfig.from_dict({"name": name, "description": f"{name} expert", **fields})


# --- the file shape -------------------------------------------------------------------------------


def test_parses_the_requirements_example(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    path.write_text(SRS_YAML)
    manager = ExpertManager(path)
    code = manager.require("code-expert")
    assert code.model_path == "./models/code-expert"
    assert code.domains == ["programming", "debugging", "code-review"]
    assert code.endpoint == "http://localhost:8001"
    assert code.urls == ["http://localhost:8001"]
    assert [e.name for e in manager.list_experts()] == ["code-expert", "writing-expert"]  # priority order
    assert [e.name for e in manager.list_experts(domain="Marketing")] == ["writing-expert"]


def test_written_file_keeps_the_requirements_shape(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    manager = ExpertManager(path)
    manager.register_expert(expert("code", keywords=["python"], endpoint="http://127.0.0.1:8001", priority=1))
    manager.register_expert(expert("math", endpoints=["http://a:1", {"url": "http://b:2", "weight": 3}]))
    import yaml

    data = yaml.safe_load(path.read_text())
    first, second = data["experts"]
    assert first["endpoint"] == "http://127.0.0.1:8001" and "endpoints" not in first
    assert first["keywords"] == ["python"] and first["priority"] == 1
    assert "max_tokens" not in first  # defaults are left out
    assert second["endpoints"] == ["http://a:1", {"url": "http://b:2", "weight": 3.0}]
    assert parse_registry(path.read_text(), "x") == manager.list_experts()
    again = ExpertManager(path)
    assert again.require("math").endpoints == [Replica(url="http://a:1"), Replica(url="http://b:2", weight=3.0)]
    assert again.require("code") == manager.require("code")


def test_invalid_experts_are_refused_with_the_field() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        ExpertConfig.from_dict({"name": "x", "temperature": 9})
    with pytest.raises(ConfigError, match="not an http"):
        ExpertConfig.from_dict({"name": "x", "endpoint": "localhost:80"})
    with pytest.raises(ConfigError, match="adapter_path needs base_model"):
        ExpertConfig.from_dict({"name": "x", "adapter_path": "a"})
    with pytest.raises(ConfigError, match="either model_path or base_model"):
        ExpertConfig.from_dict({"name": "x", "model_path": "m", "base_model": "b"})
    with pytest.raises(ConfigError, match="name"):
        ExpertConfig.from_dict({"name": "bad name"})
    ok = ExpertConfig.from_dict({"name": "lora", "base_model": "Qwen/Qwen2.5-7B", "adapter_path": "./a"})
    assert ok.adapter_path == "./a"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("experts:\n  - name: a\n  - name: b\n    temperature: hot\n", 4, "temperature"),
        ("experts:\n  - name: a\n    keywords: [a, b\n  - name: c\n", 4, "invalid YAML"),
        ("experts:\n  - name: a\n  - name: a\n", 3, "defined twice"),
        ("experts:\n  - name: a\n  - name: b\n    colour: red\n", 4, "unknown option"),
        ("experts:\n  - name: a\n  - name: b\n    endpoint: http://a:1\n    endpoints: [http://b:1]\n", 3, "not both"),
        ("experts:\n  - name: a\nrouters: 3\n", 3, "unknown top-level key"),
    ],
)
def test_malformed_file_is_reported_with_its_line_and_never_replaced(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "experts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        ExpertManager(path)
    assert f"experts.yaml:{line}" in info.value.message
    manager = ExpertManager()  # in memory
    manager.config_path = path
    with pytest.raises(ConfigError):
        manager.register_expert(expert("new"))
    assert path.read_text() == text  # untouched
    result = run_cli("expert", "add", "z", "--registry", str(path))
    assert result.returncode == 3, result.stderr
    assert f"experts.yaml:{line}" in result.stderr
    assert path.read_text() == text


# --- versions -------------------------------------------------------------------------------------


def test_versions_and_history(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    manager = ExpertManager(path)
    v1 = manager.register_expert(expert("code", keywords=["python"]))
    assert v1.version == 1 and v1.updated_at
    with pytest.raises(ConfigError, match="already exists"):
        manager.register_expert(expert("code"))
    same = manager.register_expert(expert("code", keywords=["python"]), replace=True)
    assert same.version == 1  # nothing changed: no new version
    v2 = manager.register_expert(expert("code", keywords=["python", "rust"]), replace=True)
    assert v2.version == 2
    assert [(h.version, h.change) for h in manager.history("code")] == [(1, "updated")]
    assert manager.history("code")[0].expert.keywords == ["python"]
    removed = manager.unregister_expert("code")
    assert removed.version == 2 and "code" not in manager
    v3 = manager.register_expert(expert("code"))
    assert v3.version == 3  # numbering continues after a removal
    restored = manager.restore("code", 1)
    assert restored.version == 4 and restored.keywords == ["python"]
    assert [(h.version, h.change) for h in ExpertManager(path).history("code")] == [
        (1, "updated"),
        (2, "removed"),
        (3, "updated"),
    ]
    with pytest.raises(ModelNotFoundError, match="no stored version 9"):
        manager.restore("code", 9)
    with pytest.raises(ModelNotFoundError, match="No expert named 'nope'"):
        manager.unregister_expert("nope")


def test_update_expert_and_disable(tmp_path: Path) -> None:
    manager = ExpertManager(tmp_path / "e.yaml")
    manager.register_expert(expert("code", endpoint="http://a:1"))
    updated = manager.update_expert("code", enabled=False, endpoints=["http://a:1", "http://b:2"])
    assert updated.version == 2 and not updated.enabled and updated.urls == ["http://a:1", "http://b:2"]
    assert manager.list_experts(enabled_only=True) == []
    assert manager.get_expert_status("code").state == "disabled"


def test_in_memory_registry_and_save_load(tmp_path: Path) -> None:
    manager = ExpertManager(experts=[expert("a"), expert("b", domains=["x"])])
    assert manager.config_path is None and len(manager) == 2
    manager.register_expert(expert("a", priority=5), replace=True)
    assert manager.history("a")[0].version == 1
    with pytest.raises(ConfigError, match="needs a path"):
        manager.save_config()
    target = manager.save_config(tmp_path / "saved.yaml")
    other = ExpertManager()
    other.load_config(target)
    assert other.names() == ["a", "b"] and other.require("a").priority == 5
    other.register_expert(expert("c"))  # now persistent
    assert "c" in ExpertManager(target)


def test_a_half_written_history_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    manager = ExpertManager(path)
    manager.register_expert(expert("a"))
    manager.register_expert(expert("a", priority=1), replace=True)
    with open(history_path(path), "ab") as handle:
        handle.write(b'{"name": "a", "vers')  # a crash in the middle of an append
    assert [h.version for h in manager.history("a")] == [1]


def test_permissions_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    manager = ExpertManager(path)
    manager.register_expert(expert("a"))
    os.chmod(path, 0o640)
    manager.register_expert(expert("b"))
    assert path.stat().st_mode & 0o777 == 0o640


# --- many writers, many readers -----------------------------------------------------------------


def test_concurrent_cli_adds_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    names = [f"expert-{i}" for i in range(16)]
    env = {**os.environ, "LF_EXPERTS_FILE": str(path)}
    procs = [
        subprocess.Popen(
            [lf_executable(), "expert", "add", name, "--description", f"number {i}", "--endpoint", f"http://h:{i + 1}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i, name in enumerate(names)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    experts, _ = read_registry(path)
    assert sorted(e.name for e in experts) == sorted(names)
    assert all(e.version == 1 for e in experts)


def test_concurrent_thread_writers_and_a_refreshing_reader(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    reader = ExpertManager(path)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            own = ExpertManager(path)  # each thread its own manager, as separate routers would
            for i in range(5):
                own.register_expert(expert(f"w{w}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        reader.refresh_if_changed()  # must never see a half-written file
    for t in threads:
        t.join()
    assert not errors
    reader.refresh_if_changed()
    assert len(reader) == 20


def test_refresh_if_changed_picks_up_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    router = ExpertManager(path)
    seen: list[int] = []
    router.subscribe(lambda m: seen.append(len(m)))
    assert router.refresh_if_changed() is False  # no file yet, nothing changed
    assert run_cli("expert", "add", "code", "--registry", str(path), "-e", "http://h:1").returncode == 0
    generation = router.generation
    assert router.refresh_if_changed() is True
    assert "code" in router and router.generation == generation + 1 and seen == [1]
    assert router.refresh_if_changed() is False  # one stat, no reload
    # A broken hand edit: the last good registry stays in use, the problem is reported once.
    assert path.read_text().startswith("# lf-registry: 1 expert, sha256:")
    good = path.read_text().split("\n", 1)[1]  # hand edits delete lf's integrity line
    path.write_text(good + "  - name: [unclosed\n")
    assert router.refresh_if_changed() is False
    assert router.last_error is not None and "shared.yaml:" in router.last_error.message
    assert "invalid YAML" in router.last_error.message
    assert "code" in router
    path.write_text(good.replace("code", "coder"))
    assert router.refresh_if_changed() is True
    assert router.names() == ["coder"] and router.last_error is None
    # Its own writes do not count as foreign changes.
    router.register_expert(expert("math"))
    assert router.refresh_if_changed() is False


# --- health -------------------------------------------------------------------------------------


def test_health_states_latency_and_utilization() -> None:
    clock = [0.0]
    tracker = HealthTracker(error_threshold=3, clock=lambda: clock[0])
    tracker.begin("code")
    clock[0] = 2.0
    tracker.end("code")
    tracker.record_request("code", 0.1)
    tracker.record_request("code", 0.3)
    tracker.record_request("math", 0.2)
    clock[0] = 4.0
    status = tracker.status("code", version=1, replicas=2, enabled=True)
    assert status.state == "ready" and status.requests == 2 and status.success_rate == 1.0
    assert status.avg_latency_ms == pytest.approx(200.0)
    assert status.latency_ms == pytest.approx(140.0)  # EWMA, alpha 0.2
    assert status.utilization == pytest.approx(0.5) and status.share == pytest.approx(2 / 3)
    for _ in range(3):
        tracker.record_request("code", 1.0, ok=False, error="ConnectError")
    status = tracker.status("code", version=1, replicas=2, enabled=True)
    assert status.state == "error" and status.errors == 3 and status.last_error == "ConnectError"
    assert status.success_rate == pytest.approx(2 / 5)
    tracker.record_request("code", 0.1)
    assert tracker.status("code", version=1, replicas=2, enabled=True).state == "ready"
    tracker.set_state("code", "loading")
    assert tracker.status("code", version=1, replicas=2, enabled=True).state == "loading"
    assert tracker.status("code", version=1, replicas=2, enabled=False).state == "disabled"
    with pytest.raises(ValueError):
        tracker.set_state("code", "sleepy")  # type: ignore[arg-type]


def test_manager_tracks_requests(tmp_path: Path) -> None:
    manager = ExpertManager(experts=[expert("code", endpoint="http://h:1")])
    with manager.track("code"):
        assert manager.get_expert_status("code").in_flight == 1
    with pytest.raises(RuntimeError), manager.track("code"):
        raise RuntimeError("upstream died")
    status = manager.get_expert_status("code")
    assert status.requests == 2 and status.errors == 1 and status.in_flight == 0
    assert "upstream died" in (status.last_error or "")
    assert [s.name for s in manager.statuses()] == ["code"]
    with pytest.raises(ModelNotFoundError):
        manager.set_state("nope", "ready")


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_add_list_show_remove(tmp_path: Path) -> None:
    path = tmp_path / "experts.yaml"
    env = {"LF_EXPERTS_FILE": str(path)}
    add = run_cli(
        "expert", "add", "code", "--description", "Programming help", "--keywords", "python,bug,stack trace",
        "--endpoint", "http://127.0.0.1:8001", "--endpoint", "http://127.0.0.1:8002", "--domains", "programming",
        "--example", "How do I reverse a list?", "--priority", "2", env=env,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert "added expert code (version 1)" in add.stderr
    assert run_cli("expert", "add", "math", "-d", "Maths", "--domains", "math", env=env).returncode == 0
    listed = run_cli("expert", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [e["name"] for e in data] == ["code", "math"]
    assert data[0]["keywords"] == ["python", "bug", "stack trace"]
    assert [r["url"] for r in data[0]["endpoints"]] == ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
    assert data[0]["examples"] == ["How do I reverse a list?"] and data[0]["priority"] == 2
    only = json.loads(run_cli("expert", "list", "--json", "--domain", "math", env=env).stdout)
    assert [e["name"] for e in only] == ["math"]
    table = run_cli("expert", "list", env=env)
    assert "code" in table.stdout and "http://127.0.0.1:8001" in table.stdout
    dup = run_cli("expert", "add", "code", env=env)
    assert dup.returncode == 3 and "already exists" in dup.stderr and "--replace" in dup.stderr
    assert run_cli("expert", "add", "code", "-d", "New", "--replace", env=env).returncode == 0
    shown = json.loads(run_cli("expert", "show", "code", "--json", "--history", env=env).stdout)
    assert shown["version"] == 2 and shown["history"][0]["expert"]["description"] == "Programming help"
    text = run_cli("expert", "show", "code", "--history", env=env).stdout
    assert "description: New" in text and "version 1" in text
    assert run_cli("expert", "remove", "code", env=env).returncode == 0
    missing = run_cli("expert", "remove", "code", env=env)
    assert missing.returncode == 4 and "No expert named 'code'" in missing.stderr
    bad = run_cli("expert", "add", "x", "--endpoint", "localhost:80", env=env)
    assert bad.returncode == 3 and "not an http(s) URL" in bad.stderr and "Traceback" not in bad.stderr
    other = tmp_path / "other.yaml"
    assert run_cli("expert", "add", "solo", "--registry", str(other), env=env).returncode == 0
    assert [e.name for e in ExpertManager(other).list_experts()] == ["solo"]
    empty = run_cli("expert", "list", "--registry", str(tmp_path / "none.yaml"))
    assert empty.returncode == 0 and "No experts" in empty.stdout


def test_default_registry_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lf.experts import default_registry_path

    monkeypatch.delenv("LF_EXPERTS_FILE", raising=False)
    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path))
    assert default_registry_path() == tmp_path / "experts.yaml"
    monkeypatch.setenv("LF_EXPERTS_FILE", str(tmp_path / "x.yaml"))
    assert default_registry_path() == tmp_path / "x.yaml"


def test_expert_config_is_a_msgspec_struct() -> None:
    e = expert("a", endpoint="http://h:1")
    assert msgspec.json.decode(msgspec.json.encode(e), type=ExpertConfig) == e
    assert e.to_json()["endpoints"] == [{"url": "http://h:1", "weight": 1.0}]
