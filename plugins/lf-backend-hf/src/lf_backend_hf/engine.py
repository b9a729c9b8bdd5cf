"""The continuous-batching engine: one thread that prefills, merges and decodes every request.

Each loop turn: run queued admin commands; drop cancelled rows; take new requests
(prefilled together, left-padded, up to ``max_prefill_tokens``) and merge their KV caches
into the running batch; then one decode step for every running row. A finished or
cancelled row leaves the batch at once and its slot is free for the next request, so
the batch never waits for its slowest member. Results go back to the asyncio side with
one ``call_soon_threadsafe`` per loop turn.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch

from lf.errors import InternalError, LFError, ModelNotFoundError, ModelOverloadedError
from lf.logs import get_logger
from lf.serve.backend import StopStrings
from lf.serve.schemas import Chunk, GenerationRequest
from lf_backend_hf.kvcache import MERGEABLE_LAYERS, growable_cache
from lf_backend_hf.sampling import RowParams, apply_penalties, sample
from lf_backend_hf.text import IncrementalDetokenizer

log = get_logger("lf.serve.hf")
BASE_ADAPTER = "__base__"


class Sequence:
    """One request inside the engine."""

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


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (CUDA, MPS or the CPU allocator)."""
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


class _Batch:
    """The running rows and their KV cache, attention mask, next inputs and positions."""

    def __init__(self) -> None:
        self.seqs: list[Sequence] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None
        self.next_ids: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


class BatchEngine:
    """Runs generation for all requests of one model on a background thread."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        device: torch.device,
        eos_ids: set[int],
        pad_id: int,
        max_batch_size: int,
        max_prefill_tokens: int,
        batch_wait_s: float,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.max_batch_size = max_batch_size
        self.max_prefill_tokens = max_prefill_tokens
        self.batch_wait_s = batch_wait_s
        self.adapters: set[str] = set()
        self._inbox: deque[Sequence] = deque()
        self._commands: deque[tuple[Callable[[], Any], Future[Any], bool]] = deque()
        self._wake = threading.Condition()
        self._stop = False
        self.batch = _Batch()
        self.last_progress: float | None = None
        self.error: str | None = None
        self.steps = 0
        self._last_arrival = 0.0
        self._thread = threading.Thread(target=self._run, name="lf-hf-engine", daemon=True)
        self._thread.start()

    # -- called from other threads ------------------------------------------------------------------

    def submit(self, seq: Sequence) -> None:
        """Queue a request."""
        with self._wake:
            self._inbox.append(seq)
            self._last_arrival = time.monotonic()
            self._wake.notify()

    def wake(self) -> None:
        """Make the loop look at cancellations now."""
        with self._wake:
            self._wake.notify()

    def call(self, fn: Callable[[], Any], *, when_idle: bool = False) -> Future[Any]:
        """Run ``fn`` on the engine thread between steps (after the batch drained if ``when_idle``)."""
        future: Future[Any] = Future()
        with self._wake:
            self._commands.append((fn, future, when_idle))
            self._wake.notify()
        return future

    def pending(self) -> int:
        """Requests waiting or running."""
        return len(self._inbox) + len(self.batch)

    def stop(self, timeout: float = 10.0) -> None:
        """Fail what is left and end the thread."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout)

    # -- the loop -------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            with torch.inference_mode():
                while True:
                    with self._wake:
                        while not self._stop and not self._inbox and not self._commands and not self.batch.seqs:
                            self._wake.wait()
                        if self._stop:
                            break
                    self._turn()
        except BaseException as exc:  # the engine died: report it, fail everyone
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("engine stopped", extra={"context": {"error": self.error}})
        outbox: list[tuple[Sequence, Any]] = []
        for seq in [*self.batch.seqs, *self._inbox]:
            outbox.append((seq, ModelOverloadedError("The server is shutting down.")))
        self.batch.clear()
        self._inbox.clear()
        self._send(outbox)

    def _turn(self) -> None:
        outbox: list[tuple[Sequence, Any]] = []
        self._run_commands()
        self._drop_cancelled()
        if self._commands and any(idle for _, _, idle in self._commands):
            new: list[Sequence] = []  # a swap waits for the batch to drain: admit nobody meanwhile
        else:
            new = self._take_new(outbox)
        if new:
            self._prefill(new, outbox)
        if self.batch.seqs:
            self._decode(outbox)
        self._send(outbox)

    def _run_commands(self) -> None:
        for _ in range(len(self._commands)):
            fn, future, when_idle = self._commands.popleft()
            if when_idle and self.batch.seqs:
                self._commands.append((fn, future, when_idle))
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def _drop_cancelled(self) -> None:
        if any(s.cancelled for s in self.batch.seqs):
            self._keep([i for i, s in enumerate(self.batch.seqs) if not s.cancelled])
        if any(s.cancelled for s in self._inbox):
            self._inbox = deque(s for s in self._inbox if not s.cancelled)

    def _take_new(self, outbox: list[tuple[Sequence, Any]]) -> list[Sequence]:
        room = self.max_batch_size - len(self.batch)
        if room <= 0 or not self._inbox:
            return []
        if self.batch_wait_s and len(self._inbox) < room:
            if self.batch.seqs:
                # Busy: while requests are still arriving, decode on and prefill them together next
                # turn - every merge copies the whole KV cache, so merging one by one is costly.
                if time.monotonic() - self._last_arrival < self.batch_wait_s:
                    return []
            else:
                self._settle(room)
        new: list[Sequence] = []
        longest = 0
        with self._wake:
            while self._inbox and len(new) < room:
                seq = self._inbox[0]
                if seq.cancelled:
                    self._inbox.popleft()
                    continue
                if seq.adapter is not None and seq.adapter not in self.adapters:
                    self._inbox.popleft()
                    outbox.append((seq, ModelNotFoundError(f"The adapter '{seq.adapter}' is no longer loaded.")))
                    continue
                length = max(longest, len(seq.prompt_ids))
                if new and length * (len(new) + 1) > self.max_prefill_tokens:
                    break
                longest = length
                new.append(self._inbox.popleft())
        return new

    def _settle(self, room: int) -> None:
        """Idle: wait while a burst of requests keeps arriving (up to 10 waits), to prefill it at once."""
        for _ in range(10):
            seen = len(self._inbox)
            time.sleep(self.batch_wait_s)
            if len(self._inbox) == seen or len(self._inbox) >= room:
                return

    # -- model calls ---------------------------------------------------------------------------------------

    def _forward(self, seqs: list[Sequence], **inputs: Any) -> Any:
        if self.adapters:
            inputs["adapter_names"] = [s.adapter or BASE_ADAPTER for s in seqs]
        return self.model(**inputs, use_cache=True)

    def _prefill(self, new: list[Sequence], outbox: list[tuple[Sequence, Any]]) -> None:
        longest = max(len(s.prompt_ids) for s in new)
        ids = torch.full((len(new), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(new), longest), dtype=torch.long)
        for row, seq in enumerate(new):
            n = len(seq.prompt_ids)
            ids[row, longest - n :] = torch.tensor(seq.prompt_ids, dtype=torch.long)
            mask[row, longest - n :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = growable_cache(getattr(self.model, "config", None))
        try:
            out = self._forward(
                new, input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1
            )
        except Exception as exc:
            self._fail(new, exc, outbox, "prefill")
            return
        logits = out.logits[:, -1, :]
        next_pos = mask.sum(-1)
        if self.batch.seqs and not self._merge(new, out.past_key_values, mask, next_pos):
            self._inbox.extendleft(reversed(new))  # the cache cannot be merged: wait for the batch to drain
            return
        if not self.batch.seqs:
            self.batch.seqs, self.batch.cache, self.batch.mask = list(new), out.past_key_values, mask
            self.batch.positions = next_pos
        self._emit(logits, list(range(len(self.batch) - len(new), len(self.batch))), outbox)

    def _merge(self, new: list[Sequence], cache: Any, mask: torch.Tensor, positions: torch.Tensor) -> bool:
        """Append the new rows' cache to the running one, left-padding the shorter in time."""
        old_layers, new_layers = self.batch.cache.layers, cache.layers
        if any(type(layer) not in MERGEABLE_LAYERS for layer in (*old_layers, *new_layers)):
            return False
        assert self.batch.mask is not None and self.batch.positions is not None and self.batch.next_ids is not None
        old_len, new_len = self.batch.mask.shape[1], mask.shape[1]
        total = max(old_len, new_len)

        def pad(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
            if length == total:
                return t
            shape = list(t.shape)
            shape[dim] = total - length
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for old, fresh in zip(old_layers, new_layers, strict=True):
            old.keys = torch.cat([pad(old.keys, old_len, 2), pad(fresh.keys, new_len, 2)], dim=0)
            old.values = torch.cat([pad(old.values, old_len, 2), pad(fresh.values, new_len, 2)], dim=0)
        self.batch.mask = torch.cat([pad(self.batch.mask, old_len, 1), pad(mask, new_len, 1)], dim=0)
        self.batch.positions = torch.cat([self.batch.positions, positions])
        self.batch.seqs.extend(new)
        return True

    def _decode(self, outbox: list[tuple[Sequence, Any]]) -> None:
        batch = self.batch
        assert batch.mask is not None and batch.positions is not None and batch.next_ids is not None
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch), 1))], dim=1)
        try:
            out = self._forward(
                batch.seqs,
                input_ids=batch.next_ids.unsqueeze(1),
                attention_mask=batch.mask,
                position_ids=batch.positions.unsqueeze(1),
                past_key_values=batch.cache,
            )
        except Exception as exc:
            seqs = list(batch.seqs)
            batch.clear()
            self._fail(seqs, exc, outbox, "decode")
            return
        batch.cache = out.past_key_values
        batch.positions = batch.positions + 1
        self._emit(out.logits[:, -1, :], list(range(len(batch))), outbox)

    def _emit(self, logits: torch.Tensor, rows: list[int], outbox: list[tuple[Sequence, Any]]) -> None:
        """Sample the next token of ``rows``, stream it out, and retire finished rows."""
        batch = self.batch
        seqs = [batch.seqs[i] for i in rows]
        logits = logits.float()
        apply_penalties(logits, [s.params for s in seqs], [s.out_ids for s in seqs])
        tokens = sample(logits, [s.params for s in seqs])
        self.last_progress = time.monotonic()
        self.steps += 1
        next_ids = batch.next_ids
        new_next = torch.tensor(tokens, dtype=torch.long, device=self.device)
        if next_ids is None or len(next_ids) != len(batch):
            merged = torch.empty(len(batch), dtype=torch.long, device=self.device)
            if next_ids is not None:
                merged[: len(next_ids)] = next_ids
            next_ids = merged
        next_ids[torch.tensor(rows, device=self.device)] = new_next
        batch.next_ids = next_ids
        finished: list[int] = []
        for row, seq, token in zip(rows, seqs, tokens, strict=True):
            reason = None
            text = ""
            if token in self.eos_ids and not seq.request.ignore_eos:
                reason = "stop"
            else:
                seq.out_ids.append(token)
                text, stopped = seq.stops.feed(seq.detok.add(token))
                if stopped:
                    reason = "stop"
                elif len(seq.out_ids) >= seq.max_new_tokens:
                    reason = "length"
            if reason is not None:
                text += seq.stops.flush()
                seq.done = True
                finished.append(row)
            if text or reason is not None:
                outbox.append(
                    (
                        seq,
                        Chunk(
                            text=text,
                            finish_reason=reason,  # type: ignore[arg-type]
                            prompt_tokens=len(seq.prompt_ids),
                            completion_tokens=len(seq.out_ids),
                        ),
                    )
                )
        if finished:
            done = set(finished)
            self._keep([i for i in range(len(batch)) if i not in done])

    def _keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` of the batch; drop leading columns nobody attends to any more."""
        batch = self.batch
        if len(rows) == len(batch):
            return
        if not rows:
            batch.clear()
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        batch.seqs = [batch.seqs[i] for i in rows]
        assert batch.mask is not None and batch.positions is not None and batch.next_ids is not None
        batch.mask = batch.mask.index_select(0, index)
        batch.positions = batch.positions.index_select(0, index)
        batch.next_ids = batch.next_ids.index_select(0, index)
        used = batch.mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        for layer in batch.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        batch.mask = batch.mask[:, start:]

    def _fail(self, seqs: list[Sequence], exc: Exception, outbox: list[tuple[Sequence, Any]], where: str) -> None:
        if is_oom(exc):
            error: LFError = ModelOverloadedError(
                "Out of memory while generating; retry later or with a shorter prompt.",
                hint="Lower max_batch_size or max_prefill_tokens, or use a smaller dtype.",
            )
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            log.warning("out of memory", extra={"context": {"stage": where, "rows": len(seqs)}})
        else:
            error = InternalError(f"Generation failed ({type(exc).__name__}).")
            log.error("generation failed", extra={"context": {"stage": where, "error": f"{type(exc).__name__}"}})
        for seq in seqs:
            seq.done = True
            outbox.append((seq, error))

    @staticmethod
    def _send(outbox: list[tuple[Sequence, Any]]) -> None:
        """Deliver this turn's results: one thread-safe call per event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Sequence, Any]]] = {}
        for seq, item in outbox:
            by_loop.setdefault(seq.loop, []).append((seq, item))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, items)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                pass


def _deliver(items: list[tuple[Sequence, Any]]) -> None:
    for seq, item in items:
        seq.queue.put_nowait(item)
