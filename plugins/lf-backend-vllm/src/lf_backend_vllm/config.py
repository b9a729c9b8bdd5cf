"""Options of the ``vllm`` backend (imports only msgspec and lf.serve.config)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from lf.serve.config import ServeConfig


class VLLMConfig(ServeConfig, kw_only=True, forbid_unknown_fields=True):
    """``lf run serve --plugin vllm``: the shared server options plus vLLM's engine arguments."""

    dtype: Annotated[
        Literal["auto", "float32", "bfloat16", "float16"],
        msgspec.Meta(description="Weights' dtype; auto: the model's on a GPU, float32 on CPU (bf16 is wrong there)."),
    ] = "auto"
    tensor_parallel_size: Annotated[int, msgspec.Meta(ge=1, description="GPUs to shard the model over.")] = 1
    max_model_len: Annotated[
        int | None, msgspec.Meta(description="Longest prompt + completion (default: the model's own limit).")
    ] = None
    gpu_memory_utilization: Annotated[
        Annotated[float, msgspec.Meta(gt=0, le=1)] | None,
        msgspec.Meta(description="Fraction of accelerator memory for vLLM (default 0.9 on GPU, 0.4 on CPU)."),
    ] = None
    kv_cache_space_gb: Annotated[
        float, msgspec.Meta(gt=0, description="On CPU: GiB of KV cache (sets VLLM_CPU_KVCACHE_SPACE).")
    ] = 2.0
    max_num_seqs: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Sequences batched together (vLLM's default when null)."),
    ] = None
    enable_lora: Annotated[
        bool | None, msgspec.Meta(description="Allow LoRA adapters (default: on when adapters are configured).")
    ] = None
    max_loras: Annotated[int, msgspec.Meta(ge=1, description="LoRA adapters active in one batch.")] = 4
    max_lora_rank: Annotated[int, msgspec.Meta(ge=1, description="Largest LoRA rank accepted.")] = 16
    quantization: Annotated[
        str | None, msgspec.Meta(description="vLLM quantization method (awq, gptq, fp8...); null: from the model.")
    ] = None
    enforce_eager: Annotated[bool, msgspec.Meta(description="Disable CUDA graphs / compilation.")] = False
    trust_remote_code: Annotated[bool, msgspec.Meta(description="Allow custom model code from the model dir.")] = False
    engine_args: Annotated[
        dict[str, Any], msgspec.Meta(description="Further vLLM AsyncEngineArgs, passed through as given.")
    ] = msgspec.field(default_factory=dict)
