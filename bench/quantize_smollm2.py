"""Quantize SmolLM2-135M-Instruct to 4-bit with AWQ and GPTQ; sizes, perplexity and chat answers vs float32.

The anchor is the float32 model itself, measured in the same run: its size on disk, its
perplexity on the bundled held-out set and its answers to a few chat questions. For each
method the script prints the compression ratio, the perplexity ratio (quantized / float32)
and the quantized model's answers, loaded back from disk with transformers on the CPU.

    python bench/quantize_smollm2.py                 # both methods (~15 min on 2 busy cores)
    python bench/quantize_smollm2.py --methods gptq --keep runs/bench-quantize

Set OMP_NUM_THREADS=1 on a machine shared with other jobs (see plugins/lf-quantize/README.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "What is the capital of France?",
    "Give me two tips for sleeping better.",
    "Write a Python function that returns the square of a number.",
]


def answers(model_dir: str) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out = []
    for question in QUESTIONS:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.inference_mode():
            ids = model.generate(**inputs, max_new_tokens=48, do_sample=False)
        out.append(tokenizer.decode(ids[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="awq,gptq")
    parser.add_argument("--keep", help="write the quantized models under this directory instead of a temporary one")
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: read outputs already there (their report) instead of redoing"
    )
    args = parser.parse_args()

    import lf_quantize
    from lf.models import fetch_embedded
    from lf.runner import run_component
    from lf.testing import isolated_registry

    model = str(fetch_embedded(quiet=True))
    base = answers(model)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lf-bench-quantize-"))
    rows = []
    for method in args.methods.split(","):
        out = root / f"smollm2-{method}"
        started = time.perf_counter()
        if args.reuse and (out / "quantize_report.json").exists():
            m = json.loads((out / "quantize_report.json").read_text())
            seconds = m["total_seconds"]
        else:
            with isolated_registry(lf_quantize):
                data = {"model": model, "output_dir": str(out), "overwrite": True}
                m = run_component("quantize", method, data=data).metrics
            seconds = time.perf_counter() - started
        rows.append((method, m, seconds, answers(str(out))))
    print(
        f"\nanchor: float32 SmolLM2-135M-Instruct, {rows[0][1]['size_before_bytes'] / 2**20:.1f} MiB, "
        f"perplexity {rows[0][1]['perplexity_before']:.3f} (bundled held-out set)"
    )
    header = ("method", "size MiB", "x smaller", "ppl", "ppl ratio", "quantize s", "total s")
    print(f"{header[0]:<6} " + " ".join(f"{h:>10}" for h in header[1:]))
    for method, m, seconds, _ in rows:
        print(
            f"{method:<6} {m['size_after_bytes'] / 2**20:>10.1f} {m['compression_ratio']:>10.2f} "
            f"{m['perplexity_after']:>10.3f} {m['perplexity_after'] / m['perplexity_before']:>10.3f} "
            f"{m['quantize_seconds']:>10.0f} {seconds:>10.0f}"
        )
    for i, question in enumerate(QUESTIONS):
        print(f"\nQ: {question}\n  float32: {base[i]!r}")
        for method, _, _, said in rows:
            print(f"  {method:<7}: {said[i]!r}")


if __name__ == "__main__":
    main()
