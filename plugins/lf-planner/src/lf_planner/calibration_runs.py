"""The measured-runs file of ``lf plan calibrate`` (``lf-plan-results/v1``): its structs and reader.

The file (schema: ``lf plan schema results``) lists serving runs (TTFT, ITL, output tokens/s) and
training runs (tokens/s per GPU, peak memory) with the setup that produced them. The
published-measurements table of the tests uses the same format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from lf.errors import DataError
from lf_planner.config import PosFloat, PosInt

RESULTS_FORMAT = "lf-plan-results/v1"


class ModelRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The model of a run: a size, or a directory / config.json / known name."""

    model_size_billions: float | None = None
    model_path: str | None = None


class ServingMeasured(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a serving benchmark measured (any subset)."""

    output_tokens_per_s: Annotated[PosFloat | None, msgspec.Meta(description="Output tokens/s of one replica.")] = None
    ttft_ms: Annotated[PosFloat | None, msgspec.Meta(description="Time to first token, ms.")] = None
    itl_ms: Annotated[PosFloat | None, msgspec.Meta(description="Time between output tokens, ms.")] = None


class ServingRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="serving"):
    """One serving measurement and its setup."""

    name: str = ""
    source: str = ""
    model: ModelRef
    gpu_type: str
    tensor_parallel: Annotated[int, msgspec.Meta(gt=0)] = 1
    precision: Literal["FP32", "FP16", "BF16", "FP8", "INT8", "INT4"] = "BF16"
    kv_cache_precision: Literal["FP32", "FP16", "BF16", "FP8", "INT8"] | None = None
    input_tokens: Annotated[int, msgspec.Meta(gt=0)]
    output_tokens: Annotated[int, msgspec.Meta(gt=0)]
    batch_size: Annotated[
        PosInt | None, msgspec.Meta(description="Concurrent sequences; empty: as many as the KV cache holds.")
    ] = None
    measured: ServingMeasured


class TrainingMeasured(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a training run measured (any subset)."""

    tokens_per_s_per_gpu: PosFloat | None = None
    peak_memory_gb: Annotated[
        PosFloat | None, msgspec.Meta(description="Peak allocated memory per GPU, GB (1e9 B).")
    ] = None


class TrainingRun(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="kind", tag="training"):
    """One training measurement and its setup."""

    name: str = ""
    source: str = ""
    model: ModelRef
    gpu_type: str
    num_gpus: Annotated[int, msgspec.Meta(gt=0)] = 1
    gpus_per_node: Annotated[int, msgspec.Meta(gt=0)] = 8
    precision: Literal["FP32", "FP16", "BF16", "FP8"] = "BF16"
    base_precision: Literal["FP32", "FP16", "BF16"] = "BF16"
    method: Literal["full", "lora", "qlora"] = "full"
    sequence_length: Annotated[int, msgspec.Meta(gt=0)]
    micro_batch_size: Annotated[int, msgspec.Meta(gt=0)] = 1
    gradient_checkpointing: bool = False
    optimizer: Literal["Adam", "AdamW", "Adam8bit", "Adafactor", "SGD"] = "AdamW"
    master_weights: bool = True
    lora_rank: int = 16
    lora_targets: list[str] = msgspec.field(default_factory=lambda: ["all-linear"])
    zero_stage: Literal[0, 1, 2, 3] = 0
    flash_attention: bool = True
    chunked_loss: bool = False
    framework: Annotated[
        Literal["peft", "native"],
        msgspec.Meta(
            description="LoRA/QLoRA stack: peft (Hugging Face: FP32 adapters; for QLoRA the unquantized weights, "
            "and so the residual stream, upcast to FP32) or native (torchtune: all in the training dtype)"
        ),
    ] = "peft"
    measured: TrainingMeasured


class ResultsFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``lf-plan-results/v1``: measured runs."""

    format: Literal["lf-plan-results/v1"] = "lf-plan-results/v1"
    description: str = ""
    runs: list[ServingRun | TrainingRun]


def load_results(path: str | Path) -> ResultsFile:
    """Read and validate a results file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {p}: {exc.strerror or exc}.") from exc
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    try:
        return msgspec.json.decode(raw, type=ResultsFile)
    except msgspec.ValidationError as exc:
        raise DataError(
            f"{p}: not a valid {RESULTS_FORMAT} file: {exc}",
            hint="Each run needs kind (serving or training), model, gpu_type, its setup and 'measured' "
            "(see `lf plan schema results`).",
        ) from None
