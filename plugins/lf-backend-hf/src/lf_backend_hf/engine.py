"""The continuous-batching engine: one thread that prefills, merges and decodes every request.

Each loop turn: run queued admin commands; drop cancelled rows; take new requests (up to
``max_prefill_tokens`` of prompt); then the model work of the turn (:mod:`lf_backend_hf.steps`):
on the ragged path (Llama-family models on the CPU, no LoRA adapter loaded) one forward
decodes every running row and prefills the new requests together; on the padded path (any
other model) the new requests are prefilled together, left-padded, merged into the running
batch, then every row decodes. The engine switches paths only with an empty batch (new
requests wait while the batch drains). A finished or cancelled row leaves the batch at once
and its slot is free for the next request, so the batch never waits for its slowest member.
Results go back to the asyncio side with one ``call_soon_threadsafe`` per loop turn
(:mod:`lf_backend_hf.sequence`).

The loop never dies of an exception (:mod:`lf_backend_hf.failures`): a row whose sampling
or detokenization raises fails alone; a prefill that raises is retried one request at a
time to find the culprit; any other failure fails the requests the engine held and the
loop goes on with a clean batch. When failures keep coming with no token produced, the
engine is marked failed (``error``): every queued and new request then fails at once.
Everything the asyncio side shares with the loop (the inbox, the command queue,
cancellations) is read and written under one lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch

from lf.errors import InternalError, LFError, ModelNotFoundError, ModelOverloadedError
from lf.logs import get_logger
from lf_backend_hf.failures import FailureBreaker, origin
from lf_backend_hf.ragged import RaggedModel
from lf_backend_hf.sampling import sample_rows
from lf_backend_hf.sequence import Outbox, Sequence, fail, generation_error, is_oom, send
from lf_backend_hf.steps import PaddedSteps, RaggedSteps

log = get_logger("lf.serve.hf")


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
        breaker: FailureBreaker | None = None,
        ragged: RaggedModel | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.max_batch_size = max_batch_size
        self.max_prefill_tokens = max_prefill_tokens
        self.batch_wait_s = batch_wait_s
        self.adapters: dict[str, str] = {}  # the names clients use -> PEFT's (see lf_backend_hf.adapters)
        self._inbox: deque[Sequence] = deque()
        self._commands: deque[tuple[Callable[[], Any], Future[Any], bool]] = deque()
        self._wake = threading.Condition()
        self._stop = False
        self._padded = PaddedSteps(self)
        self._ragged = RaggedSteps(self, ragged) if ragged is not None else None
        self.path: PaddedSteps | RaggedSteps = self._ragged or self._padded
        self.last_progress: float | None = None
        self.error: str | None = None
        self.steps = 0
        self._last_arrival = 0.0
        self._breaker = breaker or FailureBreaker()
        self._taken: list[Sequence] = []  # this turn's new requests, until they are in the batch
        self._thread = threading.Thread(target=self._run, name="lf-hf-engine", daemon=True)
        self._thread.start()

    @property
    def batch(self) -> Any:
        """The running rows (a padded :class:`~lf_backend_hf.batch.RunningBatch` or a ragged batch)."""
        return self.path.batch

    # -- called from other threads ------------------------------------------------------------------

    def submit(self, seq: Sequence) -> None:
        """Queue a request; raises at once when the engine failed or stopped (it would never answer)."""
        with self._wake:
            if self.error is not None:
                raise self._failed_error()
            if self._stop:
                raise ModelOverloadedError("The model is being unloaded; retry in a moment.")
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
                while self._work_to_do():
                    outbox: Outbox = []
                    try:
                        self._turn(outbox)
                    except Exception as exc:
                        self._recover(exc, outbox)
                    finally:
                        send(outbox)
        except BaseException as exc:  # only an interpreter shutting down gets here: still fail everyone
            self._give_up(exc)
        outbox = []
        with self._wake:
            left, commands = [*self.batch.seqs, *self._inbox], list(self._commands)
            self._inbox.clear()
            self._commands.clear()
        self.batch.clear()
        fail(left, ModelOverloadedError("The model was unloaded; retry in a moment."), outbox)
        send(outbox)
        for _, future, _ in commands:  # nobody may wait forever on a command that will never run
            future.set_exception(ModelOverloadedError("The model was unloaded before this could run."))

    def _work_to_do(self) -> bool:
        """Sleep until there is something to do; False once stopped."""
        with self._wake:
            while not self._stop and not self._inbox and not self._commands and not self.batch.seqs:
                self._wake.wait()
            return not self._stop

    def _turn(self, outbox: Outbox) -> None:
        self._taken = []
        self._run_commands()
        self._drop_cancelled()
        with self._wake:
            swap_waiting = any(idle for _, _, idle in self._commands)
        if swap_waiting or not self._right_steps():
            new: list[Sequence] = []  # a swap (or a change of path) waits for the batch to drain: admit nobody
        else:
            new = self._take_new(outbox)
        self._taken = new
        if new or self.batch.seqs:
            self.path.turn(new, outbox)

    def _right_steps(self) -> bool:
        """Use the ragged path unless adapters are loaded; False while the batch drains before a change."""
        wanted = self._ragged if self._ragged is not None and not self.adapters else self._padded
        if self.path is not wanted and not self.batch.seqs:
            self.path = wanted
        return self.path is wanted

    # -- failures ------------------------------------------------------------------------------------

    def _recover(self, exc: Exception, outbox: Outbox) -> None:
        """A turn raised: fail the requests it held, start again from a clean batch."""
        held = [*self.batch.seqs, *self._taken]
        self.batch.clear()
        self._taken = []
        log.error("engine turn failed", extra={"context": {"error": type(exc).__name__, "at": origin(exc)}})
        fail(held, InternalError(f"Generation failed ({type(exc).__name__})."), outbox)
        self._count_failure(exc)

    def _count_failure(self, exc: Exception) -> None:
        """One more failure of the engine itself (not out of memory): give up when they keep coming."""
        if not is_oom(exc) and self._breaker.failure():
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        """Mark the engine failed: ``status().error`` says so, and every request fails at once from now on."""
        with self._wake:
            self.error = f"the engine stopped serving after repeated failures (last: {type(exc).__name__})"
            queued = list(self._inbox)
            self._inbox.clear()
        log.error("engine failed", extra={"context": {"error": type(exc).__name__, "at": origin(exc)}})
        outbox: Outbox = []
        fail([*self.batch.seqs, *self._taken, *queued], self._failed_error(), outbox)
        self.batch.clear()
        send(outbox)

    @staticmethod
    def _failed_error() -> LFError:
        return InternalError(
            "The model's engine failed and can serve no request until the server restarts.",
            hint="The server reports not ready; restart it.",
        )

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

    def end_rows(self, doomed: Callable[[Sequence], bool], error: LFError) -> None:
        """End with ``error`` the running requests ``doomed`` picks (call it on the engine thread)."""
        rows = {i for i, seq in enumerate(self.batch.seqs) if doomed(seq)}
        if rows:
            outbox: Outbox = []
            fail([self.batch.seqs[i] for i in sorted(rows)], error, outbox)
            self.batch.keep([i for i in range(len(self.batch)) if i not in rows])
            send(outbox)

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
                # turn - one prefill for several costs less than one each (and on the padded path
                # every merge copies the whole KV cache).
                if time.monotonic() - self._last_arrival < self.batch_wait_s:
                    return []
            else:
                self._settle(room)
        new: list[Sequence] = []
        lengths: list[int] = []
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
                tokens = self.path.prefill_tokens([*lengths, len(seq.prompt_ids)])
                if new and (seq.solo or tokens > self.max_prefill_tokens):
                    break
                lengths.append(len(seq.prompt_ids))
                new.append(self._inbox.popleft())
                if seq.solo:  # its group's prefill failed: alone, it shows whether it is the culprit
                    break
        return new

    def _settle(self, room: int) -> None:
        """Idle: wait while a burst of requests keeps arriving (up to 10 waits), to prefill it at once."""
        for _ in range(10):
            seen = self._queued()
            time.sleep(self.batch_wait_s)
            now = self._queued()
            if now == seen or now >= room:
                return

    # -- what the steps call back ---------------------------------------------------------------------

    def _requeue(self, new: list[Sequence]) -> None:
        """Put this turn's ``new`` requests back at the head of the queue."""
        with self._wake:
            self._inbox.extendleft(reversed(new))
        self._taken = []

    def _prefill_failed(self, new: list[Sequence], exc: Exception, outbox: Outbox) -> None:
        """Out of memory fails the group (503); anything else retries its requests one by one."""
        if len(new) > 1 and not is_oom(exc):
            log.warning("prefill failed, retrying alone", extra={"context": {"rows": len(new), "at": origin(exc)}})
            for seq in new:
                seq.solo = True
            self._requeue(new)
        else:
            fail(new, generation_error(exc, "prefill", len(new), self.device), outbox)
        self._count_failure(exc)

    def _emit(self, logits: torch.Tensor, rows: list[int], outbox: Outbox) -> None:
        """Sample the next token of ``rows``, stream it out, and retire finished rows.

        A row whose sampling or detokenization raises fails alone; the others go on.
        """
        batch = self.batch
        seqs = [batch.seqs[i] for i in rows]
        tokens = self._choose(logits.float(), seqs, outbox)
        self.last_progress = time.monotonic()
        self.steps += 1
        if any(token is not None for token in tokens):
            self._breaker.success()
        batch.set_next(rows, [self.pad_id if token is None else token for token in tokens])
        finished: set[int] = set()
        for row, seq, token in zip(rows, seqs, tokens, strict=True):
            if token is None:
                finished.add(row)
                continue
            try:
                chunk = seq.advance(token, self.eos_ids)
            except Exception as exc:
                self._row_failed(seq, exc, "detokenize", outbox)
                finished.add(row)
                continue
            if chunk is None:
                continue
            outbox.append((seq, chunk))
            if chunk.finish_reason is not None:
                seq.done = True
                finished.add(row)
        if finished:
            batch.keep([i for i in range(len(batch)) if i not in finished])

    def _choose(self, logits: torch.Tensor, seqs: list[Sequence], outbox: Outbox) -> list[int | None]:
        """The next token of each row (None for a row whose sampling raised: it has failed)."""
        picks = sample_rows(logits, [s.params for s in seqs], [s.out_ids for s in seqs])
        tokens: list[int | None] = []
        for seq, pick in zip(seqs, picks, strict=True):
            if isinstance(pick, Exception):
                self._row_failed(seq, pick, "sample", outbox)
            tokens.append(pick if isinstance(pick, int) else None)
        return tokens

    def _row_failed(self, seq: Sequence, exc: Exception, stage: str, outbox: Outbox) -> None:
        log.error("request failed", extra={"context": {"stage": stage, "error": type(exc).__name__, "at": origin(exc)}})
        fail([seq], InternalError(f"Generation failed ({type(exc).__name__})."), outbox)
