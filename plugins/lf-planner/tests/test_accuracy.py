"""The planner against published, measured numbers (tests/data/published_measurements.json).

Each run records its source (paper, vendor benchmark page, framework README, with the exact
commit or version) and the setup that produced the number. With the default efficiency
factors the planner must be within 15 % on training memory and within 35 % on throughput and
latency, for every row.

Single-GPU LoRA / QLoRA (issue 16; what `lf plan training --method lora|qlora --num-gpus 1
--gradient-checkpointing` answers), within 35 %:
* torchtune README, Llama 3.1 8B LoRA and QLoRA on one RTX 4090 (commit 0031bfb, 15 % like the
  other rows) and Llama2-7B LoRA / QLoRA on one RTX 4090 (commit 0217d44, May 2024: a GB figure
  of an older release, QLoRA under torch.compile); torchtune keeps everything in bf16
  (``framework: native``).
* Unsloth README, "Hugging Face + FA2" column: the longest context that fits in 16 / 24 / 48 /
  80 GB for Llama 3.1 8B QLoRA r=32, and in 80 GB for Llama 3.3 70B; the peak is taken as the
  VRAM. This is the Hugging Face PEFT stack that ``lf train sft`` runs: before the planner
  modelled ``prepare_model_for_kbit_training`` (embeddings, head and norms upcast to FP32, and
  with them the residual stream) it was 36-40 % under on these rows. What is left (-13 % at 2.5k
  tokens to -27 % at 28k) grows with the context: the transformers of that release held ~14 B
  per logit (an extra FP32 copy for the label shift) where the planner counts 10 B.
* Not used: the QLoRA paper's memory figure (a bar chart whose numbers no stored source gives),
  and its Guanaco sizes (4-bit inference footprints, not training peaks).

Published numbers left out, and why:
* TensorRT-LLM v0.6.1 "Peak Throughput" (static batching): superseded by the in-flight-batching
  v1.0 table of the same project; its 2023 GQA decode kernel re-read the shared K/V per query
  head, which no current engine does (its Llama-2-70B long-output rows are 2x slower).
* torchtune full fine-tuning rows: optimizer-in-backward and a paged 8-bit optimizer (states
  paged to CPU) are not modelled; its Llama 3.1 405B QLoRA row: its config runs batch 1 while the
  README says batch 2, and activations are ~40 % of that total.
* torchtune tokens/s rows: they imply more than 90 % of the RTX 4090's dense BF16 peak.
* MPT-7B's training time: its GPU count could not be verified in a stored copy of the source.
"""

from __future__ import annotations

import pytest

from lf_planner.calibrate import calibrate, load_results, measurements, predict
from lf_planner.config import Efficiency

from .conftest import DATA

RESULTS = load_results(DATA / "published_measurements.json")
TOLERANCE = {
    "peak_memory_gb": 0.15,
    "tokens_per_s_per_gpu": 0.35,
    "output_tokens_per_s": 0.35,
    "ttft_ms": 0.35,
    "itl_ms": 0.35,
}
ROWS = [(run, metric, value) for run in RESULTS.runs for metric, value in measurements(run).items()]
#: Issue 16's single-GPU LoRA/QLoRA cases from a boundary (the longest context that fits) or an older release.
WIDER = ("Unsloth README:", "torchtune README (May 2024)")


def tolerance(run, metric):
    """The allowed relative error of ``run``'s ``metric``."""
    return 0.35 if run.name.startswith(WIDER) else TOLERANCE[metric]


def test_the_table_covers_what_the_issue_asks_for():
    kinds = {(type(run).__name__, metric) for run, metric, _ in ROWS}
    assert ("TrainingRun", "peak_memory_gb") in kinds
    assert ("TrainingRun", "tokens_per_s_per_gpu") in kinds
    assert ("ServingRun", "output_tokens_per_s") in kinds and ("ServingRun", "ttft_ms") in kinds
    methods = {run.method for run, metric, _ in ROWS if metric == "peak_memory_gb"}
    assert methods == {"full", "lora", "qlora"}
    gpus = {run.gpu_type for run, _, _ in ROWS}
    assert {"A100-80GB", "H100-80GB"} <= gpus
    assert all(run.source.startswith("https://") for run, _, _ in ROWS)


def test_single_gpu_lora_and_qlora_with_checkpointing_are_covered_for_both_stacks():
    single = [r for r, m, _ in ROWS if m == "peak_memory_gb" and r.num_gpus == 1 and r.gradient_checkpointing]
    assert {(r.method, r.framework) for r in single} >= {("lora", "native"), ("qlora", "native"), ("qlora", "peft")}
    assert sum(r.method == "qlora" for r in single) >= 5


@pytest.mark.parametrize(("run", "metric", "measured"), ROWS, ids=[f"{r.name} [{m}]" for r, m, _ in ROWS])
def test_estimate_is_within_tolerance(catalog, run, metric, measured):
    estimate = predict(run, Efficiency(), catalog)[metric]
    error = estimate / measured - 1
    assert abs(error) <= tolerance(run, metric), (
        f"{run.name}: {metric} estimated {estimate:.4g}, measured {measured:.4g} ({error:+.0%})"
    )


def test_calibrating_on_the_table_does_not_make_it_worse_and_stays_near_the_defaults(catalog):
    result = calibrate(RESULTS, Efficiency(), catalog, sweeps=1)
    assert result.mean_abs_error_after_pct <= result.mean_abs_error_before_pct
    defaults, fitted = Efficiency(), result.efficiency
    assert abs(fitted.training_mfu - defaults.training_mfu) < 0.05
    assert abs(fitted.prefill_mfu - defaults.prefill_mfu) < 0.1
    assert "training_mfu" in result.fitted and "decode_mbu" in result.fitted
