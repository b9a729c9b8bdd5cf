"""The machinery both generators share: concurrent requests, retries, progress, counts.

:class:`Engine` runs one coroutine per unit of work (a prompt) with at most
``concurrency`` of them in flight - the backend (or the server behind an endpoint) batches
what arrives together. A request that fails is retried with exponential backoff (and
jitter; a ``Retry-After`` is honoured) when another attempt can help; a prompt that still
fails is recorded in the failures file and the run goes on. Many failures in a row mean
the teacher is down: the run stops there, resumable.

Finished prompts go through the quality filters and the de-duplicator and are written at
once; all of that happens between two ``await`` points, so it is never interleaved.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lf.components import Events
from lf.errors import RunError
from lf_generate.models import RequestFailedError, retrying
from lf_generate.prompts import Prompt
from lf_generate.store import RecordStore

PROGRESS_EVERY_S = 0.2


@dataclass
class Outcome:
    """What became of one prompt.

    ``status``: ``ok`` (``record`` is kept, after de-duplication on ``dedup_text``),
    ``filtered`` / ``dropped`` (``reason`` says why). ``info`` goes to the journal.
    """

    status: str
    record: dict[str, Any] | None = None
    reason: str | None = None
    dedup_text: str = ""
    tokens: int = 0
    info: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Runs the units of a generator against a store (see the module docstring).

    ``concurrency`` bounds the requests in flight (a preference prompt makes several).
    """

    def __init__(
        self,
        *,
        store: RecordStore,
        events: Events,
        label: str,
        concurrency: int,
        max_retries: int,
        retry_backoff_s: float,
        max_consecutive_failures: int,
        dedup: Any,
        max_records: int | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.label = label
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.max_consecutive_failures = max_consecutive_failures
        self.dedup = dedup
        self.max_records = max_records
        self.counts: Counter[str] = Counter()
        self.tokens = 0
        self._consecutive_failures = 0
        self._stopped: str | None = None
        self._last_progress = 0.0
        self._started = 0.0
        self._total = 0
        self._resumed = 0
        self._slots: asyncio.Semaphore | None = None

    async def call(self, request: Callable[[], Awaitable[Any]]) -> Any:
        """``await request()`` in one of ``concurrency`` slots, retried with backoff while the failure is transient."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots

        async def once() -> Any:
            async with slots:
                return await request()

        def count(_: BaseException) -> None:
            self.counts["retries"] += 1

        return await retrying(once, max_retries=self.max_retries, backoff_s=self.retry_backoff_s, on_retry=count)

    async def run(self, units: list[Prompt], process: Callable[[Prompt], Awaitable[Outcome]]) -> None:
        """Process every unit the store does not know yet."""
        pending = [u for u in units if u.key not in self.store.done]
        self._total = len(units)
        self._resumed = len(units) - len(pending)
        self._started = time.perf_counter()
        self._progress(force=True)
        if not pending or self.full:
            return
        todo = iter(pending)

        async def worker() -> None:
            for unit in todo:  # one shared iterator: each unit goes to exactly one worker
                if self._stopped or self.full:
                    return
                try:
                    outcome = await process(unit)
                except RequestFailedError as failed:
                    self._failed(unit, failed)
                else:
                    self._consecutive_failures = 0
                    self._finish(unit, outcome)
                self._progress()

        tasks = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(pending)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._progress(force=True)
        if self._stopped:
            raise RunError(self._stopped, hint="Fix the teacher, then run the same command again: it resumes.")

    def _failed(self, unit: Prompt, failed: RequestFailedError) -> None:
        self.counts["failed"] += 1
        self.store.fail(unit.key, unit.text, failed.error, failed.attempts, sample=unit.sample)
        self._consecutive_failures += 1
        limit = self.max_consecutive_failures
        if limit and self._consecutive_failures >= limit and not self._stopped:
            self._stopped = (
                f"{self._consecutive_failures} prompts failed in a row (last: {failed.error}); stopped. "
                f"Failures are listed in {self.store.failures_path}."
            )

    @property
    def full(self) -> bool:
        """Whether the output holds ``max_records`` records."""
        return self.max_records is not None and self.store.kept >= self.max_records

    def _finish(self, unit: Prompt, outcome: Outcome) -> None:
        self.tokens += outcome.tokens
        if self.full:
            self.counts["unused"] += 1  # finished after the output filled up: not journaled, so never lost
            return
        if outcome.status == "ok":
            duplicate = self.dedup.check(outcome.dedup_text) if self.dedup is not None else None
            if duplicate:
                self.counts[f"duplicates_{duplicate}"] += 1
                self.store.add(unit.key, "duplicate", reason=duplicate, **outcome.info)
                return
            self.counts["records_written"] += 1
            self.store.add(unit.key, "ok", outcome.record, **outcome.info)
            return
        self.counts[f"{outcome.status}_{outcome.reason}"] += 1
        self.store.add(unit.key, outcome.status, reason=outcome.reason, **outcome.info)

    def _progress(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        processed = self.counts["records_written"] + sum(
            v for k, v in self.counts.items() if k.startswith(("filtered_", "dropped_", "duplicates_"))
        )
        finished = processed + self.counts["failed"]
        if self.full:  # the output filled up before the prompts ran out: the bar ends here
            self._total = self._resumed + finished
        elapsed = max(now - self._started, 1e-9)
        self.events.progress(
            self.label,
            self._resumed + finished,
            self._total,
            kept=self.store.kept,
            failed=self.counts["failed"],
            rate=f"{finished / elapsed:.2f}/s",
        )

    @property
    def seconds(self) -> float:
        """Wall time since :meth:`run` started."""
        return time.perf_counter() - self._started if self._started else 0.0

    @property
    def resumed(self) -> int:
        """Units finished by earlier runs."""
        return self._resumed
