"""Storage URLs against a real S3-compatible server (moto, started on a free 127.0.0.1 port by the fixture).

Data in (fetched once, refetched when the object changes), directories out with their
markers last (an interrupted upload never looks complete), and the done-when run:
`lf run train --plugin sft --set output_dir=s3://bucket/run` leaves the adapter and the log
in the bucket.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lf.storage import fetch, is_remote, local_path, upload_dir
from lf.testing import run_cli

pytest.importorskip("s3fs")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path / "home"))
    return s3_server


def test_urls_are_told_from_paths():
    assert is_remote("s3://b/k") and is_remote("gs://b/k") and is_remote("hf://datasets/o/n/f.jsonl")
    assert not is_remote("runs/x") and not is_remote("file:///tmp/x") and not is_remote("http://127.0.0.1:8000")
    assert local_path("file:///tmp/x") == "/tmp/x" and local_path("runs/x") == "runs/x"


def test_fetch_copies_once_and_again_when_the_object_changes(s3):
    fs = s3.filesystem()
    s3.make_bucket("data")
    fs.pipe("data/sets/a.jsonl", b'{"text": "one"}\n')
    first = fetch("s3://data/sets/a.jsonl")
    assert first.read_bytes() == b'{"text": "one"}\n' and fetch("s3://data/sets/a.jsonl") == first
    fs.pipe("data/sets/a.jsonl", b'{"text": "two"}\n')
    second = fetch("s3://data/sets/a.jsonl")
    assert second != first and second.read_bytes() == b'{"text": "two"}\n'
    fs.pipe("data/model/config.json", b"{}")
    fs.pipe("data/model/sub/w.bin", b"123")
    folder = fetch("s3://data/model")
    assert (folder / "config.json").read_bytes() == b"{}" and (folder / "sub" / "w.bin").read_bytes() == b"123"


def test_upload_puts_markers_last_and_an_interrupted_upload_never_looks_complete(s3, tmp_path, monkeypatch):
    local = tmp_path / "run"
    (local / "checkpoint-2").mkdir(parents=True)
    for name in ("a.bin", "b.json", "checkpoint-2/w.bin", "checkpoint-2/lf_checkpoint.json", "lf_output.json"):
        (local / name).write_text(name)
    s3.make_bucket("out")
    written = upload_dir(local, "s3://out/run")
    assert [w.rsplit("/run/", 1)[1] for w in written][-2:] == ["checkpoint-2/lf_checkpoint.json", "lf_output.json"]
    fs = s3.filesystem()
    assert fs.cat("out/run/lf_output.json") == b"lf_output.json"

    # a second upload over the finished run is cut off after two files: the old marker is gone, the new not there
    import s3fs

    real_put, calls = s3fs.S3FileSystem._put_file, []

    async def failing_put(self, lpath, rpath, **kwargs):
        calls.append(rpath)
        if len(calls) > 2:
            raise ConnectionError("network lost")
        return await real_put(self, lpath, rpath, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", failing_put)
    s3fs.S3FileSystem.clear_instance_cache()  # the next filesystem binds the failing method
    from lf.errors import RunError

    with pytest.raises(RunError, match="Could not upload to s3://out/run"):
        upload_dir(local, "s3://out/run")
    fs.invalidate_cache()
    assert not fs.exists("out/run/lf_output.json") and fs.exists("out/run/a.bin")


def test_sft_trains_from_s3_data_into_an_s3_output_dir(s3, tmp_path):
    s3.make_bucket("lf-runs")
    fs = s3.filesystem()
    fs.put_file(str(REPO / "examples/data/chat.jsonl"), "lf-runs/data/chat.jsonl")
    env = {**s3.env, "LARGEFORGE_HOME": os.environ["LARGEFORGE_HOME"], "OMP_NUM_THREADS": "1"}
    args = ["run", "train", "--plugin", "sft", "--config", str(REPO / "examples/sft-tiny.yaml")]
    sets = ["data=s3://lf-runs/data/chat.jsonl", "output_dir=s3://lf-runs/sft", "max_steps=4", "save_steps=2"]
    sets += ["method=lora", "plot=false", "overwrite=false"]
    result = run_cli(*args, *[x for s in sets for x in ("--set", s)], env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    fs.invalidate_cache()
    names = {p.split("lf-runs/sft/", 1)[1] for p in fs.find("lf-runs/sft")}
    assert {"adapter_model.safetensors", "adapter_config.json", "train_log.jsonl", "lf_run.json"} <= names
    assert {"lf_output.json", "checkpoint-4/lf_checkpoint.json", "tokenizer.json"} <= names
    log = [json.loads(line) for line in fs.cat("lf-runs/sft/train_log.jsonl").decode().splitlines()]
    assert any("loss" in r for r in log)
    assert json.loads(fs.cat("lf-runs/sft/lf_output.json"))["global_step"] == 4
    assert json.loads(fs.cat("lf-runs/sft/lf_run.json"))["output_url"] == "s3://lf-runs/sft"
    # a finished run in the bucket is protected, before anything loads
    again = run_cli(*args, *[x for s in sets for x in ("--set", s)], env=env)
    assert again.returncode == 3 and "already holds a finished run" in again.stderr, again.stderr[-2000:]
