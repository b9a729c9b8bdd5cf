"""``HFBackend``: the ``hf`` backend the core's server drives (load, generate, stream, models, admin)."""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, InvalidRequestError, ModelNotFoundError, RunError
from lf.logs import get_logger
from lf.serve.backend import default_model_name, quantization_method
from lf.serve.schemas import BackendStatus, Chunk, Completion, GenerationRequest, ModelCard
from lf_backend_hf.config import HFConfig
from lf_backend_hf.prompts import PromptLanes, encode, prompt_chars

log = get_logger("lf.serve.hf")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_device(name: str) -> Any:
    """``auto`` -> cuda, else mps, else cpu; anything else as given (checked)."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' was asked for but CUDA is not available here.", hint="Use device=cpu.")
    return device


def cpu_threads() -> int:
    """All usable cores but one, which is left to the HTTP server (vLLM's CPU policy too).

    Oversubscribed OpenMP threads wait on each other at every barrier: on a busy 2-core
    machine, two torch threads decoded ~10x slower than one.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def _attention(name: str) -> str:
    """``sdpa`` -> ``lf_sdpa`` (the same kernel, without copying grouped KV heads on the CPU)."""
    if name != "sdpa":
        return name
    from lf_backend_hf.attention import register

    return register()


def resolve_dtype(name: str, device: Any) -> Any:
    """``auto`` -> bfloat16 on a GPU that supports it (float16 on older ones), float32 on CPU."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class _Loaded:
    """A loaded base model, its tokenizer, engine and adapters."""

    def __init__(self, name: str, path: str, model: Any, tokenizer: Any, engine: Any, max_len: int) -> None:
        self.name = name
        self.path = path
        self.model = model
        self.tokenizer = tokenizer
        self.engine = engine
        self.max_len = max_len
        self.adapters: dict[str, str] = {}
        self.quantization = quantization_method(path)


class HFBackend:
    """transformers behind the OpenAI API, with continuous batching (see :mod:`lf_backend_hf.engine`)."""

    def __init__(self) -> None:
        self.config: HFConfig | None = None
        self.current: _Loaded | None = None
        self._lanes = PromptLanes()

    # -- loading -----------------------------------------------------------------------------------

    def validate(self, config: HFConfig) -> None:
        """Reject a missing local model before anything heavy starts."""
        path = Path(config.model).expanduser()
        if not path.exists() and not _HUB_ID.match(config.model):
            raise ConfigError(
                f"model: '{config.model}' is not a directory.", hint="Pass a Hugging Face model directory."
            )
        if path.exists() and not (path / "config.json").exists():
            raise ConfigError(f"model: '{config.model}' has no config.json; is it a Hugging Face model directory?")
        for name, adapter in config.adapters.items():
            if not (Path(adapter).expanduser() / "adapter_config.json").exists():
                raise ConfigError(f"adapters.{name}: '{adapter}' has no adapter_config.json (not a PEFT LoRA adapter).")

    def load(self, config: HFConfig) -> None:
        """Load the model, tokenizer and adapters; start the engine."""
        self.validate(config)
        self.config = config
        loaded = self._build(config.model, config.served_model_name or default_model_name(config.model))
        self.current = loaded
        for name, path in config.adapters.items():
            self._attach(loaded, name, path)

    def _build(self, path: str, name: str) -> _Loaded:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from lf_backend_hf.engine import BatchEngine

        config = self.config
        assert config is not None
        device = resolve_device(config.device)
        if config.threads or device.type == "cpu":
            torch.set_num_threads(config.threads or cpu_threads())
        dtype = resolve_dtype(config.dtype, device)
        path = str(Path(path).expanduser()) if Path(path).expanduser().exists() else path
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
            quantized = quantization_method(path) is not None
            model = AutoModelForCausalLM.from_pretrained(
                path,
                dtype=dtype,
                attn_implementation=_attention(config.attn_implementation),
                trust_remote_code=config.trust_remote_code,
                device_map=str(device) if quantized else None,
            )
        except OSError as exc:
            raise RunError(f"Cannot load the model '{path}': {exc}", hint="Check the directory or hub id.") from exc
        if not quantized:
            model = model.to(device)
        model.eval()
        if config.cpu_prepack and device.type == "cpu" and dtype == torch.float32 and not quantized:
            from lf.cpu_prepack import prepack_linears

            prepack_linears(model, batch_hint=min(32, config.max_batch_size))
        eos = _eos_ids(model, tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos) if eos else 0
        max_len = config.max_model_len or _context_length(model, tokenizer)
        engine = BatchEngine(
            model,
            tokenizer,
            device=device,
            eos_ids=eos,
            pad_id=pad,
            max_batch_size=config.max_batch_size,
            max_prefill_tokens=config.max_prefill_tokens,
            batch_wait_s=config.batch_wait_ms / 1000,
        )
        log.info("model loaded", extra={"context": {"model": name, "device": str(device), "dtype": str(dtype)}})
        return _Loaded(name, path, model, tokenizer, engine, max_len)

    def _attach(self, loaded: _Loaded, name: str, path: str) -> None:
        """Load a LoRA adapter on the engine thread (between steps)."""
        if name == loaded.name:
            raise InvalidRequestError(f"An adapter cannot be named like the base model ('{name}').")
        adapter_dir = Path(path).expanduser()
        if not (adapter_dir / "adapter_config.json").exists():
            raise InvalidRequestError(f"'{path}' has no adapter_config.json (not a PEFT LoRA adapter).")

        def attach() -> None:
            from peft import PeftModel

            engine = loaded.engine
            if isinstance(engine.model, PeftModel):
                if name in engine.adapters:
                    engine.model.delete_adapter(name)
                engine.model.load_adapter(str(adapter_dir), adapter_name=name)
            else:
                engine.model = PeftModel.from_pretrained(engine.model, str(adapter_dir), adapter_name=name)
            engine.model.eval()
            engine.adapters.add(name)

        loaded.engine.call(attach).result()
        loaded.adapters[name] = str(adapter_dir)

    # -- admin (hot swap) ------------------------------------------------------------------------------

    async def load_adapter(self, name: str, path: str) -> None:
        """Load (or replace) a LoRA adapter."""
        loaded = self._require()
        await asyncio.to_thread(self._attach, loaded, name, path)

    async def unload_adapter(self, name: str) -> None:
        """Unload a LoRA adapter; its running requests fail with MODEL_NOT_FOUND."""
        loaded = self._require()
        if name not in loaded.adapters:
            raise ModelNotFoundError(f"No adapter named '{name}' is loaded.")

        def detach() -> None:
            engine = loaded.engine
            engine.adapters.discard(name)
            for seq in engine.batch.seqs:
                if seq.adapter == name:
                    seq.cancelled = True
            engine.model.delete_adapter(name)
            if not engine.adapters:
                engine.model = engine.model.unload()

        await asyncio.wrap_future(loaded.engine.call(detach))
        del loaded.adapters[name]

    async def load_model(self, path: str, name: str | None = None) -> None:
        """Load another base model, then swap it in once running requests finished."""
        if self.config is None:
            raise InvalidRequestError("The backend was never configured.")
        if not Path(path).expanduser().exists() and not _HUB_ID.match(path):
            raise InvalidRequestError(f"'{path}' is not a model directory.")
        fresh = await asyncio.to_thread(self._build, path, name or default_model_name(path))
        old = self.current
        if old is not None:
            await asyncio.wrap_future(old.engine.call(lambda: None, when_idle=True))
        self.current = fresh
        if old is not None:
            await asyncio.to_thread(old.engine.stop)

    async def unload_model(self, name: str | None = None) -> None:
        """Unload the base model (and its adapters) once running requests finished."""
        old = self.current
        if old is None or (name is not None and name != old.name):
            raise ModelNotFoundError(f"No model named '{name}' is loaded.")
        await asyncio.wrap_future(old.engine.call(lambda: None, when_idle=True))
        self.current = None
        await asyncio.to_thread(old.engine.stop)

    async def close(self) -> None:
        """Stop the engine thread (and the huge-prompt thread)."""
        self._lanes.close()
        if self.current is not None:
            await asyncio.to_thread(self.current.engine.stop)

    # -- serving -----------------------------------------------------------------------------------------

    def models(self) -> list[ModelCard]:
        """The base model and its adapters."""
        loaded = self.current
        if loaded is None:
            return []
        cards = [
            ModelCard(id=loaded.name, root=loaded.path, quantization=loaded.quantization, max_model_len=loaded.max_len)
        ]
        cards += [
            ModelCard(id=name, root=path, parent=loaded.name, type="lora", max_model_len=loaded.max_len)
            for name, path in loaded.adapters.items()
        ]
        return cards

    def status(self) -> BackendStatus:
        """Loaded, pending requests, last progress, GPU memory."""
        loaded = self.current
        if loaded is None:
            return BackendStatus(loaded=False)
        engine = loaded.engine
        return BackendStatus(
            loaded=True,
            pending=engine.pending(),
            last_progress=engine.last_progress,
            error=engine.error,
            gpu_memory_used_bytes=_gpu_memory(),
        )

    def _require(self) -> _Loaded:
        if self.current is None:
            raise ModelNotFoundError("No model is loaded.", hint="POST /admin/models/load with a model path.")
        return self.current

    async def _prepare(self, request: GenerationRequest, queue: asyncio.Queue[Any]) -> tuple[Any, Any]:
        """The engine to run ``request`` on, and its :class:`~lf_backend_hf.sequence.Sequence`.

        The prompt is encoded on the loop when short, else in a thread (:mod:`lf_backend_hf.prompts`).
        """
        loaded = self._require()
        if request.model != loaded.name and request.model not in loaded.adapters:
            raise ModelNotFoundError(f"The model '{request.model}' is not loaded.", details={"param": "model"})
        _check_finite(request)
        tokenizer, engine = loaded.tokenizer, loaded.engine
        empty = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else engine.pad_id
        ids = await self._lanes.run(
            prompt_chars(request), lambda: encode(tokenizer, request, loaded.max_len, loaded.name, empty)
        )
        return engine, self._sequence(loaded, request, ids, queue)

    @staticmethod
    def _sequence(loaded: _Loaded, request: GenerationRequest, ids: list[int], queue: asyncio.Queue[Any]) -> Any:
        from lf_backend_hf.sampling import RowParams
        from lf_backend_hf.sequence import Sequence
        from lf_backend_hf.text import IncrementalDetokenizer

        room = loaded.max_len - len(ids)
        max_new = min(room, request.max_tokens) if request.max_tokens else room
        params = RowParams(
            request.temperature,
            request.top_p,
            request.top_k,
            request.seed,
            request.presence_penalty,
            request.frequency_penalty,
            loaded.engine.device,
        )
        detok = IncrementalDetokenizer(loaded.tokenizer, ids)
        adapter = None if request.model == loaded.name else request.model
        return Sequence(request, ids, max_new, detok, params, asyncio.get_running_loop(), queue, adapter)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Tokens as they are generated; closing the iterator cancels the request in the engine."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        engine, seq = await self._prepare(request, queue)
        engine.submit(seq)
        try:
            while True:
                item = await queue.get()
                while not isinstance(item, BaseException) and item.finish_reason is None and not queue.empty():
                    following = queue.get_nowait()  # the client fell behind: send what piled up at once
                    if isinstance(following, BaseException):
                        yield item
                        item = following
                        break
                    item = Chunk(
                        text=item.text + following.text,
                        finish_reason=following.finish_reason,
                        prompt_tokens=following.prompt_tokens,
                        completion_tokens=following.completion_tokens,
                    )
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            if not seq.done:
                engine.cancel(seq)

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


def _check_finite(request: GenerationRequest) -> None:
    """Refuse NaN or infinite sampling values (the server's ranges already do; direct callers may not)."""
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidRequestError(f"{name} must be a finite number.", details={"param": name})


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def _context_length(model: Any, tokenizer: Any) -> int:
    config = model.config
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else 2048


def _gpu_memory() -> dict[str, int]:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {f"cuda:{i}": int(torch.cuda.memory_allocated(i)) for i in range(torch.cuda.device_count())}
