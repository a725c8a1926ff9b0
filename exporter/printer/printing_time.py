"""PrintingTime: how long a session has seen its printer RUNNING, as a counter.

Utilisation over any range is `rate(bambu_printer_printing_seconds_total[...])`, which
survives scrape gaps and restarts (a counter reset) where averaging a 0/1 state gauge
over scrapes does not. Measured on a monotonic clock so a wall-clock step (NTP) neither
adds nor loses printing time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PrintingTime:
    """Accumulates the time between observations that found the printer RUNNING.

    Each observation credits the time since the previous one to what that previous
    observation saw, so the error is at most one observation interval per change of
    state. Thread-safe."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._total = 0.0
        self._running = False
        self._since: float | None = None

    def observe(self, running: bool) -> float:
        """Record what the printer is doing now; returns the total seconds seen RUNNING."""
        now = self._monotonic()
        with self._lock:
            if self._running and self._since is not None and now > self._since:
                self._total += now - self._since
            self._running, self._since = running, now
            return self._total

    @property
    def total(self) -> float:
        with self._lock:
            return self._total
