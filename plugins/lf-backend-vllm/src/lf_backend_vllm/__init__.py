"""LargeForge inference backend ``vllm``: vLLM's AsyncLLM behind the lf OpenAI-compatible server."""

from __future__ import annotations

from lf.components import ComponentSpec
from lf.hookspecs import Register, hookimpl
from lf_backend_vllm.config import VLLMConfig

__all__ = ["VLLMConfig"]


@hookimpl
def register_backends(register: Register) -> None:
    """Register the ``vllm`` backend."""
    register(
        ComponentSpec(
            kind="serve",
            name="vllm",
            summary="vLLM's async engine (PagedAttention, continuous batching, LoRA, tensor parallel)",
            config=VLLMConfig,
            impl="lf_backend_vllm.backend:VLLMBackend",
        )
    )
