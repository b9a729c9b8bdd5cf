"""Options of the ``awq`` and ``gptq`` quantizers, and the quality report (this module imports only msgspec)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class QuantizeConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What both methods share: the model, the output, the number format, calibration and the quality check."""

    model: Annotated[str, msgspec.Meta(description="Model directory to quantize (Hugging Face format, unquantized)")]
    output_dir: Annotated[
        str, msgspec.Meta(description="Where the quantized model goes (written atomically; must not exist)")
    ]
    bits: Annotated[Literal[4, 8], msgspec.Meta(description="Bits per weight: 4 (W4A16, ~4x smaller) or 8 (W8A16)")] = 4
    group_size: Annotated[
        Annotated[int, msgspec.Meta(ge=-1)] | None,
        msgspec.Meta(
            description="Weights sharing one scale (along the input dimension); -1: one scale per output channel; "
            "empty: 128, or the largest of 64 and 32 that divides every layer"
        ),
    ] = None
    symmetric: Annotated[
        bool | None,
        msgspec.Meta(description="Symmetric integers (no zero point); empty: the method's usual choice"),
    ] = None
    ignore: Annotated[
        list[str],
        msgspec.Meta(description="Layers kept in full precision (names or re:regex)"),
    ] = msgspec.field(default_factory=lambda: ["lm_head"])
    calibration_data: Annotated[
        str | None,
        msgspec.Meta(
            description="Calibration text: a data file of any lf format (.jsonl/.json/.parquet; chat records go "
            "through the model's chat template) or a plain text file (paragraphs, or one text per line); "
            "empty: the small bundled set"
        ),
    ] = None
    num_calibration_samples: Annotated[
        int, msgspec.Meta(ge=1, description="Calibration sequences at most (texts are packed into max_seq_length)")
    ] = 128
    max_seq_length: Annotated[int, msgspec.Meta(ge=16, description="Tokens per calibration sequence")] = 512
    min_calibration_tokens: Annotated[
        int, msgspec.Meta(ge=1, description="Refuse to run with fewer calibration tokens than this")
    ] = 2048
    eval_data: Annotated[
        str | None,
        msgspec.Meta(
            description="Held-out text for the perplexity check (same forms as calibration_data); "
            "empty: the bundled held-out set of lf-evaluate"
        ),
    ] = None
    eval_max_samples: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None, msgspec.Meta(description="Use at most this many held-out texts")
    ] = None
    eval_max_length: Annotated[
        Annotated[int, msgspec.Meta(ge=8)] | None,
        msgspec.Meta(description="Perplexity window in tokens; empty: min(1024, context)"),
    ] = None
    max_perplexity_increase: Annotated[
        float,
        msgspec.Meta(
            ge=0, description="Verdict 'warn' when perplexity rises by more than this many percent, else 'pass'"
        ),
    ] = 10.0
    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(
            description="Precision of what stays unquantized (embeddings, norms, scales) and of the calibration "
            "forward passes; auto: the model's own"
        ),
    ] = "auto"
    device: Annotated[str, msgspec.Meta(description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")] = (
        "auto"
    )
    overwrite: Annotated[bool, msgspec.Meta(description="Replace output_dir if it already exists")] = False
    engine_python: Annotated[
        str | None,
        msgspec.Meta(
            description="Python interpreter that has llm-compressor; empty: $LF_QUANTIZE_PYTHON, this one, "
            "a .venv-quantize beside this environment, then `lf quantize setup`'s"
        ),
    ] = None


class AWQConfig(QuantizeConfig, kw_only=True, forbid_unknown_fields=True):
    """AWQ: scale salient weight channels by activation statistics, then round to nearest."""

    duo_scaling: Annotated[
        bool, msgspec.Meta(description="Search scales from activations and weights (True) or activations only")
    ] = True
    n_grid: Annotated[int, msgspec.Meta(ge=1, le=100, description="Grid points of the scale search per layer")] = 20


class GPTQConfig(QuantizeConfig, kw_only=True, forbid_unknown_fields=True):
    """GPTQ: round weights column by column, correcting the error with second-order (Hessian) information."""

    act_order: Annotated[
        bool,
        msgspec.Meta(
            description="Activation order (desc_act): quantize columns by decreasing activation size - better "
            "accuracy; the columns are put back in order afterwards, so serving pays nothing for it"
        ),
    ] = True
    damping: Annotated[
        float, msgspec.Meta(gt=0, le=1, description="Dampening added to the Hessian diagonal, as a fraction")
    ] = 0.01
    block_size: Annotated[int, msgspec.Meta(ge=1, description="Columns quantized together in one pass")] = 128


class QuantizeReport(msgspec.Struct, kw_only=True):
    """The quality report written beside every quantized model (``quantize_report.json``)."""

    method: str
    bits: int
    group_size: int
    symmetric: bool
    format: str
    library: str
    model: str
    output_dir: str
    size_before_bytes: int
    size_after_bytes: int
    compression_ratio: float
    weights_before_bytes: int
    weights_after_bytes: int
    perplexity_before: float
    perplexity_after: float
    perplexity_increase_pct: float
    max_perplexity_increase_pct: float
    verdict: Literal["pass", "warn"]
    eval_data: str
    eval_tokens: int
    calibration_data: str
    calibration_samples: int
    calibration_tokens: int
    quantize_seconds: float
    total_seconds: float
    sample_prompt: str = ""
    sample_before: str = ""
    sample_after: str = ""
