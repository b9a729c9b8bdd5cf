"""The continuous-batching engine: one thread that prefills, merges and decodes every request.

Each loop turn: run queued admin commands; drop cancelled rows; take new requests
(prefilled together, left-padded, up to ``max_prefill_tokens``) and merge their KV caches
into the running batch (:mod:`lf_backend_hf.batch`); then one decode step for every
running row. A finished or cancelled row leaves the batch at once and its slot is free for
the next request, so the batch never waits for its slowest member. Results go back to the
asyncio side with one ``call_soon_threadsafe`` per loop turn (:mod:`lf_backend_hf.sequence`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch

from lf.errors import ModelNotFoundError, ModelOverloadedError
from lf.logs import get_logger
from lf.serve.schemas import Chunk
from lf_backend_hf.batch import RunningBatch, left_padded
from lf_backend_hf.kvcache import growable_cache
from lf_backend_hf.sampling import apply_penalties, sample
from lf_backend_hf.sequence import Outbox, Sequence, fail, generation_error, send

log = get_logger("lf.serve.hf")
BASE_ADAPTER = "__base__"


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
        self.batch = RunningBatch(device)
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

    def cancel(self, seq: Sequence) -> None:
        """Drop ``seq`` (its client went away): it leaves the queue or the batch at the next turn."""
        with self._wake:
            seq.cancelled = True
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
        with self._wake:
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
        outbox: Outbox = []
        with self._wake:
            left = [*self.batch.seqs, *self._inbox]
            self._inbox.clear()
        self.batch.clear()
        fail(left, ModelOverloadedError("The server is shutting down."), outbox)
        send(outbox)

    def _turn(self) -> None:
        outbox: Outbox = []
        self._run_commands()
        self._drop_cancelled()
        with self._wake:
            swap_waiting = any(idle for _, _, idle in self._commands)
        if swap_waiting:
            new: list[Sequence] = []  # a swap waits for the batch to drain: admit nobody meanwhile
        else:
            new = self._take_new(outbox)
        if new:
            self._prefill(new, outbox)
        if self.batch.seqs:
            self._decode(outbox)
        send(outbox)

    def _run_commands(self) -> None:
        """Run the queued commands (a ``when_idle`` one waits, in order, while rows are running)."""
        with self._wake:
            commands, self._commands = self._commands, deque()
        later: list[tuple[Callable[[], Any], Future[Any], bool]] = []
        for fn, future, when_idle in commands:
            if when_idle and self.batch.seqs:
                later.append((fn, future, when_idle))
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
        if later:
            with self._wake:
                self._commands.extendleft(reversed(later))

    def _drop_cancelled(self) -> None:
        if any(s.cancelled for s in self.batch.seqs):
            self.batch.keep([i for i, s in enumerate(self.batch.seqs) if not s.cancelled])
        with self._wake:
            if any(s.cancelled for s in self._inbox):
                self._inbox = deque(s for s in self._inbox if not s.cancelled)

    def _queued(self) -> int:
        with self._wake:
            return len(self._inbox)

    def _take_new(self, outbox: Outbox) -> list[Sequence]:
        room = self.max_batch_size - len(self.batch)
        queued = self._queued()
        if room <= 0 or not queued:
            return []
        if self.batch_wait_s and queued < room:
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
                    fail([seq], ModelNotFoundError(f"The adapter '{seq.adapter}' is no longer loaded."), outbox)
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
            seen = self._queued()
            time.sleep(self.batch_wait_s)
            now = self._queued()
            if now == seen or now >= room:
                return

    # -- model calls ---------------------------------------------------------------------------------------

    def _forward(self, seqs: list[Sequence], **inputs: Any) -> Any:
        if self.adapters:
            inputs["adapter_names"] = [s.adapter or BASE_ADAPTER for s in seqs]
        return self.model(**inputs, use_cache=True)

    def _prefill(self, new: list[Sequence], outbox: Outbox) -> None:
        ids, mask = left_padded([s.prompt_ids for s in new], self.pad_id, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = growable_cache(getattr(self.model, "config", None))
        try:
            out = self._forward(
                new, input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, logits_to_keep=1
            )
        except Exception as exc:
            fail(new, generation_error(exc, "prefill", len(new), self.device), outbox)
            return
        logits = out.logits[:, -1, :]
        next_pos = mask.sum(-1)
        if self.batch.seqs and not self.batch.merge(new, out.past_key_values, mask, next_pos):
            with self._wake:  # the cache cannot be merged: wait for the batch to drain
                self._inbox.extendleft(reversed(new))
            return
        if not self.batch.seqs:
            self.batch.start(new, out.past_key_values, mask, next_pos)
        self._emit(logits, list(range(len(self.batch) - len(new), len(self.batch))), outbox)

    def _decode(self, outbox: Outbox) -> None:
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
            fail(seqs, generation_error(exc, "decode", len(seqs), self.device), outbox)
            return
        batch.cache = out.past_key_values
        batch.positions = batch.positions + 1
        self._emit(out.logits[:, -1, :], list(range(len(batch))), outbox)

    def _emit(self, logits: torch.Tensor, rows: list[int], outbox: Outbox) -> None:
        """Sample the next token of ``rows``, stream it out, and retire finished rows."""
        batch = self.batch
        seqs = [batch.seqs[i] for i in rows]
        logits = logits.float()
        apply_penalties(logits, [s.params for s in seqs], [s.out_ids for s in seqs])
        tokens = sample(logits, [s.params for s in seqs])
        self.last_progress = time.monotonic()
        self.steps += 1
        batch.set_next(rows, tokens)
        finished: set[int] = set()
        for row, seq, token in zip(rows, seqs, tokens, strict=True):
            chunk = self._advance(seq, token)
            if chunk is None:
                continue
            outbox.append((seq, chunk))
            if chunk.finish_reason is not None:
                seq.done = True
                finished.add(row)
        if finished:
            batch.keep([i for i in range(len(batch)) if i not in finished])

    def _advance(self, seq: Sequence, token: int) -> Chunk | None:
        """Add ``token`` to ``seq``: the chunk to stream (None when there is no new text yet)."""
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
        elif not text:
            return None
        return Chunk(
            text=text,
            finish_reason=reason,  # type: ignore[arg-type]
            prompt_tokens=len(seq.prompt_ids),
            completion_tokens=len(seq.out_ids),
        )
