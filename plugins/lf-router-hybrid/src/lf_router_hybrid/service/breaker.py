"""A circuit breaker for one replica: closed -> open -> half-open -> closed.

* **closed**: requests flow; ``failure_threshold`` consecutive failures open it.
* **open**: the replica is skipped; after ``open_timeout_s`` it becomes half-open.
* **half-open**: one trial (a request, or a health check) at a time; its success closes
  the breaker, its failure opens it again for another ``open_timeout_s``.

Failures are transport errors (connection refused or reset, timeouts), 500/502/504
answers and failed health checks. Not thread-safe: the router uses it from its event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]

#: ``router_circuit_state`` values.
STATE_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    """The breaker of one replica."""

    def __init__(
        self, failure_threshold: int = 3, open_timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_timeout_s = open_timeout_s
        self.clock = clock
        self._state: BreakerState = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self.trial_in_flight = False
        #: How many times it opened (for /experts and tests).
        self.opened = 0

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker past its timeout reads half-open)."""
        if self._state == "open" and self.clock() - self.opened_at >= self.open_timeout_s:
            self._state = "half_open"
            self.trial_in_flight = False
        return self._state

    def available(self) -> bool:
        """Whether a request may be sent now (does not take the half-open trial)."""
        state = self.state
        return state == "closed" or (state == "half_open" and not self.trial_in_flight)

    def acquire(self) -> bool:
        """Take permission for one request; in half-open, only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def release(self) -> None:
        """A request that took the trial ended without a verdict (e.g. the client left)."""
        self.trial_in_flight = False

    def success(self) -> None:
        """A request or health check succeeded: close (from half-open too)."""
        if self._state == "half_open" or self.state == "half_open":
            self._state = "closed"
        self.failures = 0
        self.trial_in_flight = False

    def failure(self) -> None:
        """A request or health check failed: count it; open at the threshold or in half-open."""
        state = self.state
        self.trial_in_flight = False
        if state == "open":
            return
        self.failures += 1
        if state == "half_open" or self.failures >= self.failure_threshold:
            self._state = "open"
            self.opened_at = self.clock()
            self.opened += 1
