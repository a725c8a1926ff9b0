"""StateTime: how long a session has seen its printer in each state, as counters.

The states a farm asks about, not the firmware's words: printing (RUNNING), paused,
preparing, plate_waiting (FINISH or FAILED: done, the plate not yet cleared), idle
(IDLE, or a state nobody knows) and offline (not up). Every second of a session's life
falls in exactly one, so they add up to the time the exporter watched, and utilisation
over any range is a `rate()`. A monotonic clock measures the time (a wall-clock step
neither adds nor loses any); the wall clock only stamps when the current state began.
"""

from __future__ import annotations

from collections.abc import Mapping

STATE_LABELS: tuple[str, ...] = ("printing", "paused", "preparing", "plate_waiting", "idle",
                                 "offline")
OFFLINE_LABEL = "offline"
_OF_GCODE_STATE: Mapping[str, str] = {
    "RUNNING": "printing", "PAUSE": "paused", "PREPARE": "preparing",
    "FINISH": "plate_waiting", "FAILED": "plate_waiting",
}


def state_label(gcode_state: str | None, up: bool) -> str:
    """A printer's state as StateTime counts it."""
    if not up:
        return OFFLINE_LABEL
    return _OF_GCODE_STATE.get(gcode_state or "", "idle")


class StateTime:
    """Accumulates the time between observations by the state the earlier one saw: the
    error is at most one observation interval per change of state. Not thread-safe (the
    session calls it under its lock)."""

    __slots__ = ("_totals", "_label", "observed", "since")   # one per printer

    def __init__(self, wall: float, mono: float, label: str = OFFLINE_LABEL) -> None:
        self._totals = dict.fromkeys(STATE_LABELS, 0.0)
        self._label = label
        self.observed = mono   # monotonic time of the last observation
        self.since = wall      # unix time the current state began (as first seen)

    @property
    def label(self) -> str:
        return self._label

    def observe(self, label: str, wall: float, mono: float) -> None:
        if mono > self.observed:
            # A new mapping each time, never changed after: statuses share it uncopied.
            totals = dict(self._totals)
            totals[self._label] += mono - self.observed
            self._totals = totals
            self.observed = mono
        if label != self._label:
            self._label = label
            self.since = wall

    def totals(self) -> Mapping[str, float]:
        """Seconds by state label, every label present (read only: it is shared)."""
        return self._totals
