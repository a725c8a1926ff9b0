"""A log that a hostile client cannot flood: at most a few lines a minute, then one line
saying how many were left out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """warning() logs at most `burst` lines per `period` seconds. Event-loop side only."""

    def __init__(self, logger: logging.Logger, burst: int = 10, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._burst = burst
        self._period = period
        self._clock = clock
        self._window = clock()
        self._logged = 0
        self.suppressed = 0   # lines left out in the current window

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._window >= self._period:
            if self.suppressed:
                self._log.warning("... and %d more like these in the last %.0f s, not logged",
                                  self.suppressed, now - self._window)
            self._window, self._logged, self.suppressed = now, 0, 0
        if self._logged < self._burst:
            self._logged += 1
            self._log.warning(message, *args)
        else:
            self.suppressed += 1
