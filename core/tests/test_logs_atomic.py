"""JSON logs in the requirements' shape, never leaking secrets or prompts; atomic writes."""

from __future__ import annotations

import io
import json
import logging

import pytest

from lf.atomic import atomic_directory, atomic_write_text
from lf.logs import get_logger, redact, setup_logging


def test_json_log_shape_and_redaction():
    stream = io.StringIO()
    setup_logging(logging.INFO, fmt="json", stream=stream)
    get_logger("train").info(
        "epoch done with Bearer sk-abcdef123456",
        extra={
            "context": {
                "epoch": 1,
                "loss": 0.5,
                "api_key": "k" * 40,
                "prompt": "my secret question",
                "nested": {"authorization": "Bearer x", "messages": [{"role": "user"}]},
            }
        },
    )
    record = json.loads(stream.getvalue().strip())
    assert set(record) == {"timestamp", "level", "logger", "message", "context"}
    assert record["timestamp"].endswith("Z") and record["level"] == "INFO" and record["logger"] == "lf.train"
    assert record["context"]["epoch"] == 1 and record["context"]["loss"] == 0.5
    text = stream.getvalue()
    assert "k" * 40 not in text and "my secret question" not in text and "sk-abcdef123456" not in text
    assert record["context"]["nested"] == {"authorization": "[redacted]", "messages": "[redacted]"}


def test_text_logs_redact_too():
    stream = io.StringIO()
    setup_logging(logging.INFO, fmt="text", stream=stream)
    get_logger("serve").info("request", extra={"context": {"x_api_key": "secret-value", "status": 200}})
    assert "secret-value" not in stream.getvalue() and "status=200" in stream.getvalue()


def test_redact_keeps_metrics_and_hides_credentials():
    metrics = {"tokens": 12, "token_count": 3, "tokens_per_second": 9.5, "latency_ms": 4.5}
    assert redact(metrics) == metrics
    secrets = {"hf_token": "a", "access_token": "b", "token": "c", "X-API-Key": "d", "db_password": "e"}
    assert set(redact(secrets).values()) == {"[redacted]"}


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_text("half")
        raise RuntimeError("crash")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "weights.bin").write_text("whole")
    assert (target / "weights.bin").read_text() == "whole"
    with pytest.raises(FileExistsError), atomic_directory(target):
        pass
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.bin").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.bin"]


def test_two_processes_building_one_tiny_model_build_it_once(tmp_path):
    """Two first-time ``lf`` processes (or two test workers) on one cache: one builds, one waits."""
    import subprocess
    import sys

    pytest.importorskip("transformers")
    script = (
        "import sys\n"
        "from lf.models import tiny_model_path\n"
        "class Events:\n"
        "    def message(self, text): print('BUILDING', flush=True)\n"
        "path = tiny_model_path('tiny', events=Events())\n"
        "print(path)\n"
    )
    env = {**__import__("os").environ, "LARGEFORGE_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert sum(out.count("BUILDING") for out in outputs) == 1
    built = tmp_path / "models" / "lf-tiny"
    assert all(out.strip().endswith(str(built)) for out in outputs)
    assert (built / "config.json").exists()
    assert not list(built.parent.glob(".tmp-*")) and not list(built.parent.glob(".old-*"))
