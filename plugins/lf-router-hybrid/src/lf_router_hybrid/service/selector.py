"""Classification off the event loop, batched under load.

The classifier runs in a worker thread so that a neural pass (milliseconds) - or any
plugin's classifier, whose cost the router cannot know - never blocks the requests in
flight. Queries that arrive while a pass runs wait and go together in the next
``classify_batch`` call: one MiniLM forward for many queries. What costs less than a
thread hop runs inline: the keyword classifier (microseconds), and a hybrid query settled
by its keyword fast path - unless some expert has a regex keyword, whose searches may take
up to the classifier's regex budget: then they run in the worker too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from lf.kinds import ClassificationResult

Pending = tuple[str, "dict[str, Any] | None", "asyncio.Future[ClassificationResult]"]


class Selector:
    """Async front of a classifier: ``await selector.classify(query, context)``."""

    def __init__(self, classifier: Any, *, max_batch: int = 64) -> None:
        from lf_router_hybrid.hybrid import HybridClassifier
        from lf_router_hybrid.keyword import KeywordClassifier

        self.classifier = classifier
        self.max_batch = max_batch
        self._keyword = classifier if isinstance(classifier, KeywordClassifier) else None
        self._hybrid = classifier if isinstance(classifier, HybridClassifier) else None
        self._pending: list[Pending] = []
        self._busy = False
        self._limiter = anyio.CapacityLimiter(1)
        #: Classifier passes run in the worker thread, and queries they classified.
        self.passes = 0
        self.queries = 0

    async def classify(self, query: str, context: dict[str, Any] | None = None) -> ClassificationResult:
        """The classifier's answer for ``query``."""
        if self._keyword is not None and not self._keyword.has_regex:
            return self._keyword.classify(query, context)
        if self._hybrid is not None and not self._hybrid.keyword.has_regex:
            fast = self._hybrid.classify_fast(query, context)
            if fast is not None:
                return fast
        future: asyncio.Future[ClassificationResult] = asyncio.get_running_loop().create_future()
        self._pending.append((query, context, future))
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                try:
                    results = await anyio.to_thread.run_sync(self._run, batch, limiter=self._limiter)
                except Exception as exc:
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._busy = False

    def _run(self, batch: list[Pending]) -> list[ClassificationResult]:
        self.passes += 1
        self.queries += len(batch)
        if len(batch) == 1:
            query, context, _ = batch[0]
            return [self.classifier.classify(query, context)]
        return list(self.classifier.classify_batch([q for q, _, _ in batch], [c for _, c, _ in batch]))
