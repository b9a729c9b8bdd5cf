"""``echo``: a deterministic inference backend without a model, for tests of the server layer.

It "generates" the words of the prompt (or of the last chat message) one by one, each
as one token, optionally waiting ``token_delay_s`` between tokens - so streaming,
deadlines, load shedding and cancellation can be checked exactly and fast. It counts the
generations it started, finished and had cancelled. Real backends live in plugins
(``lf-backend-hf``, ``lf-backend-vllm``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec

from lf.components import ComponentSpec
from lf.errors import ModelNotFoundError, ModelOverloadedError
from lf.hookspecs import Register, hookimpl
from lf.serve.config import ServeConfig


class EchoConfig(ServeConfig, kw_only=True, forbid_unknown_fields=True):
    """Options of the echo backend."""

    model: Annotated[str, msgspec.Meta(description="The name the echo model is served as.")] = "echo"
    token_delay_s: Annotated[float, msgspec.Meta(ge=0, description="Seconds between two tokens.")] = 0.0
    load_delay_s: Annotated[float, msgspec.Meta(ge=0, description="Seconds that loading takes.")] = 0.0
    fail_after_tokens: Annotated[
        int | None, msgspec.Meta(description="Raise an error after this many tokens (tests error frames).")
    ] = None
    overloaded_word: Annotated[
        str | None, msgspec.Meta(description="A prompt containing this word fails as out of memory.")
    ] = None


class EchoBackend:
    """Echoes the prompt's words as tokens."""

    def __init__(self) -> None:
        self.config = EchoConfig()
        self.adapters: dict[str, str] = {}
        self.loaded = False
        self.started = 0
        self.finished = 0
        self.cancelled = 0
        self.running = 0
        self.last_progress: float | None = None

    def load(self, config: EchoConfig) -> None:
        """Pretend to load (waits ``load_delay_s``)."""
        time.sleep(config.load_delay_s)
        self.config = config
        self.adapters = dict(config.adapters)
        self.loaded = True

    def models(self) -> list[Any]:
        """The echo model and its 'adapters'."""
        from lf.serve.schemas import ModelCard

        if not self.loaded:
            return []
        base = self.config.served_model_name or self.config.model
        cards = [ModelCard(id=base, root=base)]
        cards += [ModelCard(id=name, root=path, parent=base, type="lora") for name, path in self.adapters.items()]
        return cards

    def status(self) -> Any:
        """Loaded, pending work, last progress."""
        from lf.serve.schemas import BackendStatus

        return BackendStatus(loaded=self.loaded, pending=self.running, last_progress=self.last_progress)

    async def load_adapter(self, name: str, path: str) -> None:
        """Register an 'adapter' (echo output is prefixed with its name)."""
        self.adapters[name] = path

    async def unload_adapter(self, name: str) -> None:
        """Forget an adapter."""
        if name not in self.adapters:
            raise ModelNotFoundError(f"No adapter named '{name}' is loaded.")
        del self.adapters[name]

    async def load_model(self, path: str, name: str | None = None) -> None:
        """Serve another 'model' under ``name``."""
        self.config = msgspec.structs.replace(self.config, model=path, served_model_name=name)
        self.loaded = True

    async def unload_model(self, name: str | None = None) -> None:
        """Serve nothing."""
        self.loaded = False

    def _words(self, request: Any) -> list[str]:
        if request.model != (self.config.served_model_name or self.config.model) and request.model not in self.adapters:
            raise ModelNotFoundError(f"No model named '{request.model}'.")
        text = request.prompt if request.messages is None else str(request.messages[-1]["content"])
        if self.config.overloaded_word and self.config.overloaded_word in text:
            raise ModelOverloadedError("Out of memory while generating; retry with a shorter prompt.")
        words = text.split() or ["..."]
        if request.model in self.adapters:
            words = [f"[{request.model}]", *words]
        return words

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        """Yield one word per token."""
        from lf.serve.backend import StopStrings
        from lf.serve.schemas import Chunk

        words = self._words(request)
        limit = request.max_tokens or len(words)
        stops = StopStrings(request.stop)
        self.started += 1
        self.running += 1
        done = False
        try:
            produced = 0
            for word in words[:limit]:
                if self.config.token_delay_s:
                    await asyncio.sleep(self.config.token_delay_s)
                produced += 1
                self.last_progress = time.monotonic()
                if self.config.fail_after_tokens is not None and produced > self.config.fail_after_tokens:
                    raise RuntimeError("echo backend failing as configured")
                text, stopped = stops.feed(word + " ")
                if stopped:
                    yield Chunk(text=text, finish_reason="stop", prompt_tokens=len(words), completion_tokens=produced)
                    done = True
                    return
                yield Chunk(text=text, prompt_tokens=len(words), completion_tokens=produced)
            reason: Literal["stop", "length"] = "length" if limit < len(words) else "stop"
            yield Chunk(text=stops.flush(), finish_reason=reason, prompt_tokens=len(words), completion_tokens=produced)
            done = True
        finally:
            self.running -= 1
            if done:
                self.finished += 1
            else:
                self.cancelled += 1

    async def generate(self, request: Any) -> Any:
        """The whole echo."""
        from lf.serve.schemas import Completion

        parts, last = [], None
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


@hookimpl
def register_backends(register: Register) -> None:
    """Register the echo backend."""
    register(
        ComponentSpec(
            kind="serve",
            name="echo",
            summary="Echoes the prompt word by word (a test backend, no model)",
            config=EchoConfig,
            impl="lf.testing.echo_backend:EchoBackend",
        )
    )


def echo_plugin() -> Any:
    """This module, ready for ``registry.add_plugin`` / ``isolated_registry``."""
    import sys

    return sys.modules[__name__]
