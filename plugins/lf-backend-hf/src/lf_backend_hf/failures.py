"""When is the engine broken, rather than one request? A breaker over the loop's failures.

A failure that one request caused (its sampling or detokenization raised) ends that
request only. A failure of the batch machinery or of a forward pass (the model, the
device) ends the requests the engine held at that moment; the loop then goes on with a
clean batch. Only when such failures keep coming with no token produced in between does
the engine give up: :class:`FailureBreaker` says when.
"""

from __future__ import annotations

import time
import traceback
from collections import deque

FAILURE_LIMIT = 5
"""Failures in a row (no token produced between them) that mark the engine failed."""

FAILURE_WINDOW_S = 60.0
"""... when they all happened within this many seconds."""


class FailureBreaker:
    """Trips after ``limit`` failures within ``window_s`` seconds with no success between them."""

    def __init__(self, limit: int = FAILURE_LIMIT, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: deque[float] = deque()

    def success(self) -> None:
        """The engine produced a token: the failures so far were not the engine's."""
        self._failures.clear()

    def failure(self) -> bool:
        """Count one failure; True when the engine should now be marked failed."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()
        return len(self._failures) >= self.limit

    @property
    def count(self) -> int:
        """Failures counted since the last success."""
        return len(self._failures)


def origin(exc: BaseException) -> str:
    """Where ``exc`` was raised (``file.py:line in function``): for logs, without the message.

    An exception's message can quote the request; its type and place never do.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
