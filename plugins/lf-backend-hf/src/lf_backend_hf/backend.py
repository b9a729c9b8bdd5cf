"""``HFBackend``: the ``hf`` backend the core's server drives (load, generate, stream, models, admin)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lf.errors import ConfigError, InvalidRequestError, LFError, ModelNotFoundError, ModelOverloadedError
from lf.logs import get_logger
from lf.serve.backend import default_model_name
from lf.serve.schemas import BackendStatus, Chunk, Completion, GenerationRequest, ModelCard
from lf_backend_hf.config import HFConfig
from lf_backend_hf.loading import HUB_ID, LoadedModel, build, model_source
from lf_backend_hf.prompts import PromptLanes, encode, prompt_chars

log = get_logger("lf.serve.hf")

BAD_MODEL = "Could not load a model from that path: it is not a model directory the hf backend can read."
"""The one answer to every model path that cannot be loaded: it never says whether the path exists."""


class HFBackend:
    """transformers behind the OpenAI API, with continuous batching (see :mod:`lf_backend_hf.engine`)."""

    def __init__(self) -> None:
        self.config: HFConfig | None = None
        self.current: LoadedModel | None = None
        self._lanes = PromptLanes()

    # -- loading -----------------------------------------------------------------------------------

    def validate(self, config: HFConfig) -> None:
        """Reject a missing local model before anything heavy starts."""
        path = Path(config.model).expanduser()
        if not path.exists() and not HUB_ID.match(config.model):
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
        loaded = build(config, config.model, config.served_model_name or default_model_name(config.model))
        self.current = loaded
        for name, path in config.adapters.items():
            self._attach(loaded, name, path)

    def _attach(self, loaded: LoadedModel, name: str, path: str) -> None:
        """Load a LoRA adapter on the engine thread (between steps); a bad one changes nothing."""
        from lf_backend_hf.adapters import adapter_source, attach

        if name == loaded.name:
            raise InvalidRequestError(f"An adapter cannot be named like the base model ('{name}').")
        directory = adapter_source(path)
        loaded.engine.call(lambda: attach(loaded.engine, name, directory)).result()
        loaded.adapters[name] = directory

    # -- admin (hot swap) ------------------------------------------------------------------------------

    async def load_adapter(self, name: str, path: str) -> None:
        """Load (or replace) a LoRA adapter; InvalidRequestError when ``path`` holds none we can read."""
        loaded = self._require()
        await asyncio.to_thread(self._attach, loaded, name, path)

    async def unload_adapter(self, name: str) -> None:
        """Unload a LoRA adapter; its running requests fail with MODEL_NOT_FOUND."""
        from lf_backend_hf.adapters import detach

        loaded = self._require()
        if name not in loaded.adapters:
            raise ModelNotFoundError(f"No adapter named '{name}' is loaded.")
        await asyncio.wrap_future(loaded.engine.call(lambda: detach(loaded.engine, name)))
        del loaded.adapters[name]

    async def load_model(self, path: str, name: str | None = None) -> None:
        """Load another base model, then swap it in once running requests finished.

        A path that holds no model this backend can load raises InvalidRequestError with
        :data:`BAD_MODEL` (the same words whether it exists or not) and changes nothing.
        """
        if self.config is None:
            raise InvalidRequestError("The backend was never configured.")
        source = model_source(path)
        if source is None:
            raise InvalidRequestError(BAD_MODEL)
        try:
            fresh = await asyncio.to_thread(build, self.config, source, name or default_model_name(path))
        except Exception as exc:
            raise _load_error(exc) from None
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

    def _require(self) -> LoadedModel:
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
    def _sequence(loaded: LoadedModel, request: GenerationRequest, ids: list[int], queue: asyncio.Queue[Any]) -> Any:
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


def _load_error(exc: Exception) -> LFError:
    """What a failed hot load answers: 503 when out of memory, else :data:`BAD_MODEL` (the cause is logged)."""
    from lf_backend_hf.failures import origin
    from lf_backend_hf.sequence import is_oom

    if is_oom(exc):
        return ModelOverloadedError("Not enough memory to load that model next to the one being served.")
    log.warning("model hot load failed", extra={"context": {"error": type(exc).__name__, "at": origin(exc)}})
    return InvalidRequestError(BAD_MODEL)


def _check_finite(request: GenerationRequest) -> None:
    """Refuse NaN or infinite sampling values (the server's ranges already do; direct callers may not)."""
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidRequestError(f"{name} must be a finite number.", details={"param": name})


def _gpu_memory() -> dict[str, int]:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {f"cuda:{i}": int(torch.cuda.memory_allocated(i)) for i in range(torch.cuda.device_count())}
