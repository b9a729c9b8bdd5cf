"""`lf export gguf` on tiny models of the five families: transformers' GGUF loader reads back the same model.

Each family's tiny model (``lf.testing.families``) is exported at several types and loaded back
with ``from_pretrained(dir, gguf_file=...)``: the logits match the source's within a tolerance per
type (f32 exactly: every layout change - the rotary reordering of llama's q/k, Gemma's norm
offset, Phi-3's fused projections - is undone on load), the tokenizer built from the file's
vocabulary encodes like the original, and the chat template and stop tokens are in the metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lf.testing import run_cli

pytest.importorskip("gguf")

FAMILIES = ["llama3", "qwen2", "mistral", "gemma2", "phi3"]
#: Largest logit difference allowed per type on these tiny models (their logits are within about +-1.5).
TOLERANCE = {"f32": 1e-5, "f16": 2e-3, "q8_0": 5e-2, "q4_0": 0.4}
TEXT = "The quick brown fox jumps over the lazy dog. Paris is the capital of France; 2 + 2 = 4."


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread() -> Any:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lf.testing.families import family_model, find_chat_templates

    templates = find_chat_templates(Path(__file__).resolve().parent)
    if templates is None:
        pytest.skip("no chat_templates folder at ../shared/data/chat_templates (or $LF_CHAT_TEMPLATES)")
    root = tmp_path_factory.mktemp("gguf-families")
    # "tiny-" prefix: transformers loads a llama-architecture file whose general.name is exactly "mistral" as a
    # Mistral it then cannot map (gguf-py has no "mistral" architecture); real names never are exactly that.
    return {name: family_model(name, root / f"tiny-{name}", templates) for name in FAMILIES}


def _logits(model: Any, tokenizer: Any) -> Any:
    import torch

    ids = torch.tensor([tokenizer(TEXT)["input_ids"]])
    with torch.no_grad():
        return model(ids).logits


def _metadata(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    wanted = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.bos_token_id")
    values: dict[str, Any] = {key: int(reader.fields[key].parts[-1][0]) for key in wanted if key in reader.fields}
    template = reader.fields["tokenizer.chat_template"]
    values["chat_template"] = bytes(template.parts[-1]).decode()
    values["types"] = {t.name: t.tensor_type.name for t in reader.tensors}
    return values


@pytest.mark.parametrize("family", FAMILIES)
def test_transformers_loads_the_file_back_with_the_same_logits_tokenizer_template_and_stops(
    family: str, models: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from lf.chat_template import end_of_turn_token
    from lf_export import export_gguf

    source = models[family]
    tokenizer = AutoTokenizer.from_pretrained(source)
    want = _logits(AutoModelForCausalLM.from_pretrained(source), tokenizer)
    stops = GenerationConfig.from_pretrained(source).eos_token_id
    for kind in ("f32", "f16", "q8_0"):
        out = tmp_path / f"{family}.{kind}.gguf"
        result = export_gguf(str(source), out, type=kind)
        assert result.artifacts["gguf"] == str(out) and not list(tmp_path.glob(".*.tmp"))
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name)
        diff = (_logits(loaded, tokenizer) - want).abs().max().item()
        assert diff <= TOLERANCE[kind], f"{family} {kind}: max logit difference {diff:.2e}"
        meta = _metadata(out)
        assert meta["chat_template"] == tokenizer.chat_template
        turn_end = tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))
        assert meta["tokenizer.ggml.eos_token_id"] == tokenizer.eos_token_id
        assert meta["tokenizer.ggml.eot_token_id"] == turn_end and turn_end in stops  # the family's stop token
        assert meta["types"]["output_norm.weight"] == "F32"
    from_file = AutoTokenizer.from_pretrained(tmp_path, gguf_file=out.name)
    plain = {"add_special_tokens": False}  # transformers ignores tokenizer.ggml.add_bos_token; llama.cpp reads it
    assert from_file(TEXT, **plain)["input_ids"] == tokenizer(TEXT, **plain)["input_ids"]
    assert from_file.chat_template == tokenizer.chat_template and from_file.eos_token == tokenizer.eos_token


def test_4_bit_keeps_the_embeddings_at_8_bit_and_the_norms_in_float32(models: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lf_export import export_gguf

    out = tmp_path / "llama3.q4_0.gguf"
    export_gguf(str(models["llama3"]), out, type="q4_0")
    types = _metadata(out)["types"]
    assert types["token_embd.weight"] == types["output.weight"] == "Q8_0"
    assert types["blk.0.attn_q.weight"] == types["blk.1.ffn_down.weight"] == "Q4_0"
    assert types["blk.0.attn_norm.weight"] == "F32"
    tokenizer = AutoTokenizer.from_pretrained(models["llama3"])
    want = _logits(AutoModelForCausalLM.from_pretrained(models["llama3"]), tokenizer)
    got = _logits(AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name), tokenizer)
    assert (got - want).abs().max().item() <= TOLERANCE["q4_0"]


@pytest.mark.parametrize("family", FAMILIES)
def test_our_tensor_names_are_the_gguf_package_s(family: str, models: dict[str, Path]) -> None:
    """transformers maps names back with gguf-py's table: ours must agree with it tensor by tensor."""
    from gguf import MODEL_ARCH_NAMES, get_tensor_name_map
    from safetensors import safe_open
    from transformers import AutoConfig

    from lf_export.arch import gguf_name, read_hparams

    hp = read_hparams(AutoConfig.from_pretrained(models[family]))
    arch = next(key for key, value in MODEL_ARCH_NAMES.items() if value == hp.arch)
    table = get_tensor_name_map(arch, hp.layers)
    with safe_open(str(models[family] / "model.safetensors"), framework="pt") as weights:
        for name in weights.keys():  # noqa: SIM118 - safe_open is not a mapping
            ours = gguf_name(name, hp)
            if ours is not None:
                base, _, suffix = name.rpartition(".")
                assert ours == f"{table.get_name(base)}.{suffix}", name


def test_the_command_shows_progress_replaces_atomically_and_refuses_clearly(
    models: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "phi3.gguf"
    ok = run_cli("export", "gguf", str(models["phi3"]), str(out), "--type", "q8_0")
    assert ok.returncode == 0, ok.stderr
    assert "writing tensors" in ok.stderr and "ok: wrote" in ok.stderr and out.stat().st_size > 0
    again = run_cli("export", "gguf", str(models["phi3"]), str(out))
    assert again.returncode == 3 and "exists" in again.stderr and "--overwrite" in again.stderr
    bad_type = run_cli("export", "gguf", str(models["phi3"]), str(tmp_path / "x.gguf"), "--type", "q3_k")
    assert bad_type.returncode == 3 and "--type must be one of" in bad_type.stderr
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(models["phi3"])}))
    refused = run_cli("export", "gguf", str(adapter), str(tmp_path / "a.gguf"))
    assert refused.returncode == 3 and "lf merge lora" in refused.stderr
    for result in (again, bad_type, refused):
        assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "phi3.gguf"]  # no temporary file left


def test_an_export_that_fails_midway_leaves_nothing(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lf_export.gguf_export as module

    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_stream_tensors", fail)
    from lf.errors import RunError

    with pytest.raises(RunError, match="No space left on device"):
        module.export_gguf(str(models["qwen2"]), tmp_path / "q.gguf")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_architecture_is_refused_by_name(models: dict[str, Path], tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from lf.errors import ConfigError
    from lf_export import export_gguf

    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64)).save_pretrained(gpt2)
    with pytest.raises(ConfigError, match="does not know the architecture 'gpt2'"):
        export_gguf(str(gpt2), tmp_path / "g.gguf")


def test_lf_help_imports_neither_torch_nor_gguf() -> None:
    code = (
        "import sys\nfrom lf.cli import main\n"
        "for args in (['--help'], ['export', '--help'], ['export', 'gguf', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('HEAVY', [m for m in ('torch', 'gguf', 'transformers', 'numpy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_llama_3_1_rope_scaling_becomes_llama_cpp_s_frequency_divisors(models: dict[str, Path], tmp_path: Path) -> None:
    """Llama-3.1's ``llama3`` RoPE is written as ``rope_freqs.weight``, checked against the published formula.

    transformers' GGUF loader ignores that tensor (it would rebuild the model with plain RoPE),
    so this file is checked by its metadata, not by reloading it.
    """
    import math
    import shutil

    import numpy as np
    from gguf import GGUFReader

    from lf_export import export_gguf

    model = shutil.copytree(models["llama3"], tmp_path / "llama-3.1")
    config = json.loads((model / "config.json").read_text())
    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 500000.0, **scaling}
    (model / "config.json").write_text(json.dumps(config))
    out = tmp_path / "llama-3.1.gguf"
    export_gguf(str(model), out)
    tensor = next(t for t in GGUFReader(out).tensors if t.name == "rope_freqs.weight")
    dim = config["hidden_size"] // config["num_attention_heads"]
    expected = []
    for i in range(0, dim, 2):
        wavelength = 2 * math.pi * 500000.0 ** (i / dim)
        if wavelength < 64 / 4:
            expected.append(1.0)
        elif wavelength > 64 / 1:
            expected.append(8.0)
        else:
            smooth = (64 / wavelength - 1) / (4 - 1)
            expected.append(1 / ((1 - smooth) / 8 + smooth))
    assert np.allclose(np.asarray(tensor.data), expected, rtol=1e-5)
    assert {1.0, 8.0} <= set(np.round(np.asarray(tensor.data), 4).tolist())  # all three regimes are covered
