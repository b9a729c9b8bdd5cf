"""Options and results of ``lf evaluate`` (this module imports only msgspec)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class PerplexityConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What ``lf evaluate perplexity`` measures, and how."""

    model: Annotated[str, msgspec.Meta(description="Model directory (Hugging Face format, quantized or not)")]
    data: Annotated[
        str | None,
        msgspec.Meta(
            description="Held-out text: a data file of any lf format (.jsonl/.json/.parquet) or a plain text file "
            "(paragraphs separated by blank lines, else one text per line); empty: the bundled held-out set"
        ),
    ] = None
    max_samples: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Use at most this many texts (records) of the data"),
    ] = None
    max_length: Annotated[
        Annotated[int, msgspec.Meta(ge=8)] | None,
        msgspec.Meta(description="Tokens per window; empty: min(1024, the model's context length)"),
    ] = None
    stride: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(
            description="Tokens the window moves each step (each token is scored once, with up to "
            "max_length - stride tokens of context); empty: max_length / 2",
        ),
    ] = None
    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(description="Compute precision of unquantized weights; auto: float32 on CPU, the model's on GPU"),
    ] = "auto"
    device: Annotated[str, msgspec.Meta(description="auto (CUDA when present, else CPU), cpu, cuda, cuda:1 ...")] = (
        "auto"
    )


class PerplexityResult(msgspec.Struct, kw_only=True):
    """A perplexity measurement: ``exp`` of the mean negative log-likelihood per scored token."""

    model: str
    perplexity: float
    nll: float
    tokens: int
    windows: int
    texts: int
    max_length: int
    stride: int
    data: str = "(bundled held-out set)"
    seconds: float = 0.0
