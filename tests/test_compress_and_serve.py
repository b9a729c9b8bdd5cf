"""Issue 6's serving checks across plugins: a quantized model and a merged SFT adapter serve with lf-backend-hf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lf.client import InferenceClient
from lf.runner import run_component
from lf.serve.app import create_app
from lf.testing import running_server, write_samples

openai = pytest.importorskip("openai")


def _serve_and_chat(model_dir: Path, name: str) -> tuple[dict, str]:
    """Serve ``model_dir`` with the hf backend; return its /v1/models card and a chat answer."""
    from lf_backend_hf.backend import HFBackend
    from lf_backend_hf.config import HFConfig

    config = HFConfig(model=str(model_dir), served_model_name=name)
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        InferenceClient(url).wait_ready(timeout=120)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        card = next(m for m in client.models.list().model_dump()["data"] if m["id"] == name)
        reply = client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "What is two plus two?"}], max_tokens=8
        )
    return card, reply.choices[0].message.content or ""


@pytest.mark.slow
def test_an_awq_quantized_model_serves_and_names_its_method(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "awq"
    result = run_component("quantize", "awq", data={"model": str(tiny_model_dir), "output_dir": str(out)})
    assert result.metrics["compression_ratio"] > 1.5
    card, answer = _serve_and_chat(out, "tiny-awq")
    assert card["quantization"] == "awq"
    assert answer  # the random tiny model says something; what matters is that it generates


@pytest.mark.slow
def test_a_merged_sft_adapter_serves(tiny_model_dir, tmp_path):
    data = write_samples(tmp_path / "chat.jsonl", "messages", 16)
    out = tmp_path / "sft"
    run_component(
        "train",
        "sft",
        data={"model": str(tiny_model_dir), "data": str(data), "output_dir": str(out)},
        overrides=["method=lora", "merge=true", "max_steps=4", "save_steps=100", "logging_steps=1"],
    )
    merged = next(p.parent for p in out.rglob("config.json") if "merged" in str(p.parent))
    assert not (merged / "adapter_config.json").exists()
    config = json.loads((merged / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    card, answer = _serve_and_chat(merged, "tiny-sft")
    assert card["quantization"] is None and answer
