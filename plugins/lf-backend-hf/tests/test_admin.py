"""Admin hot loads of a bad path: a clear error that does not say whether the path exists; what was served stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from lf.errors import InvalidRequestError
from lf.serve.app import create_app
from lf.serve.schemas import GenerationRequest
from lf.testing import running_server, tiny_model, wait_ready
from lf_backend_hf.backend import HFBackend
from lf_backend_hf.config import HFConfig

BAD_MODEL = "Could not load a model from that path: it is not a model directory the hf backend can read."
BAD_ADAPTER = "Could not load an adapter from that path: it is not a LoRA adapter directory the hf backend can read."


def lora(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data.normal_(0, 0.5)
    model.save_pretrained(out)
    return out


def bad_paths(root: Path, tiny_model_dir: Path) -> dict[str, Path]:
    """Paths that are no model: missing, empty, a file, a broken config, an adapter made for another model."""
    (root / "empty").mkdir()
    (root / "file.txt").write_text("not a model")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"model_type": "no-such-architecture"}')
    smaller = tiny_model(root / "smaller", hidden_size=32)
    return {
        "missing": root / "missing",
        "empty": root / "empty",
        "file": root / "file.txt",
        "broken": root / "broken",
        "model-not-adapter": tiny_model_dir,
        "adapter-for-another-model": lora(smaller, root / "mismatched", 3),
    }


def greedy(backend: HFBackend, model: str = "tiny") -> str:
    request = GenerationRequest(
        request_id="t", model=model, prompt="The quick brown fox", max_tokens=6, temperature=0.0
    )
    return asyncio.run(backend.generate(request)).text


@pytest.fixture
def backend(tiny_model_dir):
    backend = HFBackend()
    backend.load(HFConfig(model=str(tiny_model_dir), served_model_name="tiny"))
    yield backend
    asyncio.run(backend.close())


@pytest.mark.timeout(120)
def test_a_bad_model_path_is_refused_and_the_served_model_stays(backend, tiny_model_dir, tmp_path):
    before = greedy(backend)
    for kind, path in bad_paths(tmp_path, tiny_model_dir).items():
        if kind == "model-not-adapter":
            continue
        with pytest.raises(InvalidRequestError) as exc:
            asyncio.run(backend.load_model(str(path), "other"))
        assert exc.value.message == BAD_MODEL, kind  # the same words whether the path exists or not
        assert [m.id for m in backend.models()] == ["tiny"], kind
        assert greedy(backend) == before, kind
    assert backend.status().error is None


@pytest.mark.timeout(120)
def test_a_bad_model_path_with_no_model_loaded_leaves_no_model(backend, tiny_model_dir, tmp_path):
    asyncio.run(backend.unload_model())
    with pytest.raises(InvalidRequestError, match="Could not load a model from that path"):
        asyncio.run(backend.load_model(str(tmp_path / "missing"), "other"))
    assert backend.models() == [] and not backend.status().loaded
    asyncio.run(backend.load_model(str(tiny_model_dir), "tiny"))
    assert greedy(backend)


@pytest.mark.timeout(120)
def test_a_bad_adapter_path_is_refused_and_the_served_adapters_stay(backend, tiny_model_dir, tmp_path):
    asyncio.run(backend.load_adapter("first", str(lora(tiny_model_dir, tmp_path / "first", 1))))
    base, first = greedy(backend), greedy(backend, "first")
    assert base != first
    for kind, path in bad_paths(tmp_path, tiny_model_dir).items():
        for name in ("second", "first"):  # a new adapter, and a replacement of a served one
            with pytest.raises(InvalidRequestError) as exc:
                asyncio.run(backend.load_adapter(name, str(path)))
            assert exc.value.message == BAD_ADAPTER, (kind, name)
            assert [m.id for m in backend.models()] == ["tiny", "first"], (kind, name)
            assert (greedy(backend), greedy(backend, "first")) == (base, first), (kind, name)
    asyncio.run(backend.unload_adapter("first"))
    assert greedy(backend) == base


@pytest.mark.timeout(120)
def test_the_admin_endpoints_answer_400_and_the_server_keeps_answering(tiny_model_dir, tmp_path):
    config = HFConfig(model=str(tiny_model_dir), served_model_name="tiny")
    with running_server(create_app(HFBackend(), config, backend_name="hf")) as url:
        wait_ready(url)
        for kind in ("models", "adapters"):
            for path in (tmp_path / "missing", tmp_path):
                answer = httpx.post(f"{url}/admin/{kind}/load", json={"path": str(path), "name": "x"}, timeout=60)
                assert answer.status_code == 400 and str(path) not in answer.text, answer.text
        body = {"model": "tiny", "prompt": "fox", "max_tokens": 2}
        assert httpx.post(f"{url}/v1/completions", json=body, timeout=60).status_code == 200
        assert httpx.get(f"{url}/ready").status_code == 200
