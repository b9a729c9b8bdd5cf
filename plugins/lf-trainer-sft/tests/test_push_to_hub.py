"""``push_to_hub`` / ``push_merged_to_hub`` of a real tiny LoRA run, through the real CLI.

The Hugging Face Hub cannot be reached from here: the pushes go to :mod:`lf.testing.hub`, a
local stand-in of the Hub's upload API (``HF_ENDPOINT`` points ``huggingface_hub`` at it). This
checks what ``lf`` sends with ``huggingface_hub`` and how it reports the answers, not the real
Hub's permissions or storage.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from lf.testing import run_cli
from lf.testing.hub import HubServer

REPO = Path(__file__).resolve().parents[3]
TOKEN = "hf_test_stand_in_token"


def train(out: Path, hub: HubServer, *settings: str) -> Any:
    """A two-step LoRA run of ``examples/sft-tiny.yaml`` with ``settings``, pushing to ``hub``."""
    sets = [f"output_dir={out}", "method=lora", "max_steps=2", "save_steps=1", "logging_steps=1", "plot=false"]
    args = [a for s in [*sets, *settings] for a in ("--set", s)]
    # HF_HUB_OFFLINE=0: a machine set offline for the model downloads may still reach the stand-in
    env = {**hub.env, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
    return run_cli("run", "train", "--plugin", "sft", "--config", "examples/sft-tiny.yaml", *args, env=env, cwd=REPO)


def local_files(folder: Path, ignore: list[str]) -> dict[str, bytes]:
    """``{relative path: bytes}`` under ``folder``, without what matches ``ignore``."""
    files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    return {rel: p.read_bytes() for rel, p in files.items() if not any(fnmatch(rel, pat) for pat in ignore)}


def test_adapter_and_merged_model_are_pushed_private_with_the_token(tmp_path: Path, hub_server: HubServer) -> None:
    out = tmp_path / "run"
    result = train(
        out, hub_server,
        "merge=true", "hub_private=true", "push_to_hub=someorg/tiny-adapter", "push_merged_to_hub=someorg/tiny-merged",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    adapter = hub_server.repo("someorg/tiny-adapter")
    assert adapter.private and adapter.repo_type == "model"
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert adapter.files[name] == (out / name).read_bytes(), name
    # the final adapter and its companions, nothing else: no checkpoints, log or merged model
    assert (out / "checkpoint-2").is_dir() and (out / "train_log.jsonl").is_file()
    ignored = ["checkpoint-*", "merged/*", "train_log.jsonl", ".tmp-*"]
    assert adapter.files == local_files(out, ignored)
    assert not [p for p in adapter.files if p.startswith(("checkpoint-", "merged/")) or p == "train_log.jsonl"]

    merged = hub_server.repo("someorg/tiny-merged")
    assert merged.private
    assert merged.files == local_files(out / "merged", [])
    assert "config.json" in merged.files and any(p.endswith(".safetensors") for p in merged.files)
    assert merged.files["config.json"] == (out / "merged" / "config.json").read_bytes()

    # one commit each, made with the token; every request carried it
    assert [len(r.commits) for r in (adapter, merged)] == [1, 1]
    assert adapter.commits[0].summary.startswith("LargeForge: ")
    assert {r.authorization for r in hub_server.requests} == {f"Bearer {TOKEN}"}
    assert "/api/models/someorg/tiny-adapter/commit/main" in {r.path for r in hub_server.requests}

    # the result names where the models went
    for repo in (adapter, merged):
        assert f"{hub_server.url(repo)}/commit/{repo.head}" in result.stdout, result.stdout


def test_a_refused_push_is_a_clear_error_and_keeps_the_run(tmp_path: Path, hub_server: HubServer) -> None:
    hub_server.refuse = 403
    out = tmp_path / "run"
    result = train(out, hub_server, "push_to_hub=someorg/tiny-adapter")
    assert result.returncode == 7, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    error = " ".join(result.stderr.split())
    assert "Could not push" in error and "repository someorg/tiny-adapter" in error, error
    assert "403 Forbidden" in error and "HF_TOKEN" in error, error
    assert not hub_server.repos
    assert (out / "adapter_model.safetensors").is_file() and (out / "lf_output.json").is_file()
