"""Pure: what the page says about jobs, in words: how long a printer has been in its
state ("finished 47 min ago, plate waiting"), and the jobs ended since the exporter
started, by result, with the share that succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.printer.jobs import JOB_RESULTS
from exporter.printer.status import OFFLINE, PrinterStatus

PLATE_WAITING_STATES = ("FINISH", "FAILED")
_DOING = {"RUNNING": "printing", "PAUSE": "paused", "PREPARE": "preparing", "IDLE": "idle",
          OFFLINE: "offline"}


def duration_words(seconds: float) -> str:
    """47 s, 12 min, 3 h 05 min, 2 d 4 h: as a person reads an age at a glance."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def plate_waiting_since(status: PrinterStatus) -> float | None:
    """Unix time the plate began to wait (the job's end where it was seen, else when the
    exporter first saw the printer rest), None when no plate waits."""
    if status.state not in PLATE_WAITING_STATES:
        return None
    ended = status.last_job
    if ended is not None and status.job is None and _ends_in(ended.result, status.state):
        return ended.ended
    return status.state_since


def state_age_words(status: PrinterStatus, now: float) -> str:
    """How long the printer has been in its state, in words ("" when not known)."""
    state = status.state
    since = status.state_since
    if state in PLATE_WAITING_STATES:
        ended = status.last_job
        if ended is not None and status.job is None and _ends_in(ended.result, state):
            return f"{ended.result} {duration_words(now - ended.ended)} ago, plate waiting"
        if since is None:
            return "plate waiting"
        return f"plate waiting for {duration_words(now - since)}"
    doing = _DOING.get(state)
    if doing is None or since is None:
        return ""
    return f"{doing} for {duration_words(now - since)}"


def _ends_in(result: str, state: str) -> bool:
    return (result == "finished") == (state == "FINISH") and result in JOB_RESULTS


@dataclass(frozen=True)
class JobsSummary:
    """Jobs ended since the exporter started (this process's sessions), by result."""

    counts: tuple[tuple[str, int], ...]   # (result, jobs) in JOB_RESULTS order

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)

    @property
    def success_ratio(self) -> float | None:
        """Finished jobs among all ended (cancelled ones count against it); None: none."""
        total = self.total
        return dict(self.counts).get("finished", 0) / total if total else None


def jobs_summary(statuses: Iterable[PrinterStatus]) -> JobsSummary:
    totals = dict.fromkeys(JOB_RESULTS, 0)
    for status in statuses:
        for result in JOB_RESULTS:
            totals[result] += status.prints.get(result, 0)
    return JobsSummary(tuple(totals.items()))
