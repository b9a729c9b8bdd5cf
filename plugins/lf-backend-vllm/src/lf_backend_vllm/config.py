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
    tensor_parallel_size: Annotated[
        int, msgspec.Meta(ge=1, description="GPUs each layer is split over (within one node, usually).")
    ] = 1
    pipeline_parallel_size: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description="Stages the layers are split into (one group of tensor_parallel_size GPUs each; "
            "across nodes with distributed_executor_backend: ray). GPUs used: tensor x pipeline.",
        ),
    ] = 1
    distributed_executor_backend: Annotated[
        Literal["mp", "ray"] | None,
        msgspec.Meta(
            description="How vLLM starts its workers when more than one GPU is used: 'mp' (processes on this "
            "node), 'ray' (a Ray cluster: several nodes); null: vLLM chooses (mp on one node)."
        ),
    ] = None
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

    def validate(self) -> None:
        """Refuse engine arguments that would contradict the options above (what vLLM gets is ambiguous)."""
        from lf.config import invalid

        named = {"tensor_parallel_size", "pipeline_parallel_size", "distributed_executor_backend"}
        clash = sorted(named & set(self.engine_args))
        if clash:
            raise invalid(
                "engine_args",
                f"engine_args sets {', '.join(clash)}, which {'is an option' if len(clash) == 1 else 'are options'} "
                "of their own here.",
                hint=f"Set {clash[0]} directly (--set {clash[0]}=...) and remove it from engine_args.",
            )
