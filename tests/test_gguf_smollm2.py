"""Issue 18's GGUF "done when": the embedded SmolLM2 exported at q8_0 and loaded back by transformers.

``lf export gguf "$(lf models fetch)" out.gguf --type q8_0`` as a user runs it; transformers'
GGUF loader reads the file back; its greedy (top-1) next-token choices are compared with the
source model's at every position of two held-out texts the model was not trained on: the
project's example conversations in SmolLM2's chat template, and lf-evaluate's bundled held-out
prose (with dialogue and code). Measured: 0.985 and 0.983.

That is below the issue's 0.99, and it is what Q8_0 itself costs this model, not an error of
the file: the same weights quantized and de-quantized in memory (without GGUF) give the same
0.983; f16 gives 0.999 and bf16 0.995 on the prose. Q8_0 rounds each weight to 1/254 of its
block's range (about 0.5% noise, five times bf16's), and SmolLM2-135M - itself de-quantized
from a 4-bit file - has near ties at about 1.5% of the positions. The floor below guards
against regressions at the measured level; the README gives the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lf.testing import run_cli

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("gguf")


def _agreement(source: object, loaded: object, ids: list[int], window: int = 512) -> float:
    import torch

    same = 0
    with torch.no_grad():
        for start in range(0, len(ids), window):
            chunk = torch.tensor([ids[start : start + window]])
            same += int((source(chunk).logits.argmax(-1) == loaded(chunk).logits.argmax(-1)).sum())  # type: ignore[operator]
    return same / len(ids)


@pytest.mark.slow
def test_smollm2_at_q8_0_loads_back_with_the_same_top1_predictions(smollm2_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lf_evaluate import bundled_texts

    out = tmp_path / "smollm2.q8_0.gguf"
    result = run_cli("export", "gguf", str(smollm2_dir), str(out), "--type", "q8_0", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size < 0.6 * (smollm2_dir / "model.safetensors").stat().st_size  # 8-bit, not float32
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
        source = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=out.name, dtype=torch.float32).eval()
        rows = [json.loads(line) for line in (REPO / "examples/data/chat.jsonl").read_text().splitlines()]
        chat = "".join(tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows)
        prose = "\n\n".join(bundled_texts("heldout"))
        texts = {"chat": chat, "prose": prose}
        scores = {name: _agreement(source, loaded, tokenizer(text)["input_ids"]) for name, text in texts.items()}
    finally:
        torch.set_num_threads(before)
    print(f"top-1 agreement at q8_0: {scores}")
    assert min(scores.values()) >= 0.975, scores
    from_file = AutoTokenizer.from_pretrained(tmp_path, gguf_file=out.name)
    assert from_file(prose)["input_ids"] == tokenizer(prose)["input_ids"]
    assert from_file.chat_template == tokenizer.chat_template
