"""Reconnect back-off: exponential, bounded, jittered.

Without jitter, printers that fail together (a power cut, a Wi-Fi outage) retry on the
same schedule and all reconnect in the same instant when they come back: one burst of TLS
handshakes and pushalls. "Equal jitter" keeps each wait between half and all of the
exponential step, so waits still grow (a dead printer costs little) while the fleet's
retries drift apart a little more on every attempt.
"""

from __future__ import annotations

import random


class Backoff:
    """Waits of first, 2*first, 4*first ... capped at `ceiling`, each drawn uniformly
    from [step/2, step]. Not thread-safe: one per connection, used by one thread."""

    def __init__(self, first: float = 1.0, ceiling: float = 60.0,
                 rng: random.Random | None = None) -> None:
        if first <= 0 or ceiling < first:
            raise ValueError(f"back-off needs 0 < first <= ceiling, got {first}, {ceiling}")
        self._first = first
        self._ceiling = ceiling
        self._step = first
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The wait before the next attempt; the step doubles for the one after."""
        step = self._step
        self._step = min(step * 2, self._ceiling)
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        """A connection that worked: the next failure starts from the first step."""
        self._step = self._first
