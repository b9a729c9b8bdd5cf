"""One request inside the engine, and how its results travel back to the asyncio side.

The engine thread never touches an asyncio object directly: it collects each turn's
results in an :data:`Outbox` and :func:`send` hands them over with one
``call_soon_threadsafe`` per event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch

from lf.errors import InternalError, LFError, ModelOverloadedError
from lf.logs import get_logger
from lf.serve.backend import StopStrings
from lf.serve.schemas import Chunk, GenerationRequest
from lf_backend_hf.sampling import RowParams
from lf_backend_hf.text import IncrementalDetokenizer

log = get_logger("lf.serve.hf")


class Sequence:
    """One request inside the engine.

    ``cancelled`` is set by the asyncio side (the client went away) and read by the engine
    thread; ``done`` is set by the engine thread once the last item for this request
    (its final chunk or its error) is in an outbox.
    """

    def __init__(
        self,
        request: GenerationRequest,
        prompt_ids: list[int],
        max_new_tokens: int,
        detok: IncrementalDetokenizer,
        params: RowParams,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
        adapter: str | None,
    ) -> None:
        self.request = request
        self.prompt_ids = prompt_ids
        self.max_new_tokens = max_new_tokens
        self.detok = detok
        self.stops = StopStrings(request.stop)
        self.params = params
        self.loop = loop
        self.queue = queue
        self.adapter = adapter
        self.out_ids: list[int] = []
        self.cancelled = False
        self.done = False
        self.solo = False  # prefill this one alone (its group's prefill failed)

    def advance(self, token: int, eos_ids: set[int]) -> Chunk | None:
        """Add a generated token: the chunk to stream, or None while there is no new text yet."""
        reason = None
        text = ""
        if token in eos_ids and not self.request.ignore_eos:
            reason = "stop"
        else:
            self.out_ids.append(token)
            text, stopped = self.stops.feed(self.detok.add(token))
            if stopped:
                reason = "stop"
            elif len(self.out_ids) >= self.max_new_tokens:
                reason = "length"
        if reason is not None:
            text += self.stops.flush()
        elif not text:
            return None
        return Chunk(
            text=text,
            finish_reason=reason,  # type: ignore[arg-type]
            prompt_tokens=len(self.prompt_ids),
            completion_tokens=len(self.out_ids),
        )


Outbox = list[tuple[Sequence, Any]]
"""One engine turn's results: ``(sequence, Chunk or exception)`` pairs."""


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (CUDA, MPS or the CPU allocator)."""
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


def generation_error(exc: BaseException, where: str, rows: int, device: torch.device) -> LFError:
    """The error a request gets when ``exc`` broke its generation: 503 for out of memory, else 500.

    Logs the exception's type only: its text can quote the request.
    """
    if is_oom(exc):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        log.warning("out of memory", extra={"context": {"stage": where, "rows": rows}})
        return ModelOverloadedError(
            "Out of memory while generating; retry later or with a shorter prompt.",
            hint="Lower max_batch_size or max_prefill_tokens, or use a smaller dtype.",
        )
    log.error("generation failed", extra={"context": {"stage": where, "rows": rows, "error": type(exc).__name__}})
    return InternalError(f"Generation failed ({type(exc).__name__}).")


def fail(seqs: list[Sequence], error: BaseException, outbox: Outbox) -> None:
    """End ``seqs`` with ``error`` (those that have not ended yet)."""
    for seq in seqs:
        if not seq.done:
            seq.done = True
            outbox.append((seq, error))


def send(outbox: Outbox) -> None:
    """Deliver a turn's results: one thread-safe call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, Outbox] = {}
    for seq, item in outbox:
        by_loop.setdefault(seq.loop, []).append((seq, item))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, items)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass


def _deliver(items: Outbox) -> None:
    for seq, item in items:
        seq.queue.put_nowait(item)
