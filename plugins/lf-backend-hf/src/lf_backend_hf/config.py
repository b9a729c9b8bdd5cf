"""Options of the ``hf`` backend (imports only msgspec and lf.serve.config)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lf.serve.config import ServeConfig


class HFConfig(ServeConfig, kw_only=True, forbid_unknown_fields=True):
    """``lf run serve --plugin hf``: the shared server options plus these."""

    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(description="Weights' dtype; auto: bfloat16 on a GPU that supports it, else float32."),
    ] = "auto"
    device: Annotated[str, msgspec.Meta(description="auto (cuda if available, else cpu), cpu, cuda, cuda:1, mps.")] = (
        "auto"
    )
    max_batch_size: Annotated[
        int, msgspec.Meta(ge=1, description="Sequences decoded together in one forward pass (continuous batching).")
    ] = 64
    max_prefill_tokens: Annotated[
        int, msgspec.Meta(ge=16, description="Prompt tokens (padded) prefilled in one forward pass.")
    ] = 8192
    batch_wait_ms: Annotated[
        float,
        msgspec.Meta(ge=0, description="When idle, wait this long for more requests to prefill together."),
    ] = 5.0
    max_model_len: Annotated[
        int | None, msgspec.Meta(description="Longest prompt + completion (default: the model's own limit).")
    ] = None
    attn_implementation: Annotated[
        str,
        msgspec.Meta(
            description=(
                "Attention kernel passed to transformers: sdpa (on the CPU without copies of grouped KV heads), "
                "eager, flash_attention_2."
            )
        ),
    ] = "sdpa"
    cpu_prepack: Annotated[
        bool,
        msgspec.Meta(description="On CPU in float32: oneDNN-prepacked linear weights (~1.5x faster batched decoding)."),
    ] = True
    ragged: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "On CPU, for Llama-family models: one forward decodes the running requests and prefills new ones "
                "together, unpadded (else: padded prefills merged into the batch, as for every other model)."
            )
        ),
    ] = True
    trust_remote_code: Annotated[bool, msgspec.Meta(description="Allow custom model code from the model dir.")] = False
    threads: Annotated[
        int | None, msgspec.Meta(description="CPU threads for torch (default on CPU: all cores but one).")
    ] = None
