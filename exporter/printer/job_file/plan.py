"""What a job's 3MF says it will use, and why a fetch did not get it."""

from __future__ import annotations

from dataclasses import dataclass

# Why a job's plan could not be had; each is a label value of the fetch-errors counter.
FETCH_REASONS: tuple[str, ...] = ("no_file", "no_storage", "refused", "tls", "timeout",
                                  "too_large", "bad_file")


class JobFileError(Exception):
    """A fetch or a parse that failed, with the counted reason; the message never holds a
    secret (no access code, no raw server text beyond a capped reply)."""

    def __init__(self, reason: str, message: str, data_channel: bool = False) -> None:
        if reason not in FETCH_REASONS:
            raise ValueError(f"unknown fetch reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.data_channel = data_channel   # it failed on the data channel, not the control


@dataclass(frozen=True)
class PlannedFilament:
    """One slicer filament of a plate: `slot` is the slicer's 1-based filament id."""

    slot: int
    tray_info_idx: str
    material: str
    color: str        # "#RRGGBB" upper case, "" when the file gives none we can read
    grams: float
    meters: float


@dataclass(frozen=True)
class JobPlan:
    """One plate of a job as sliced: how long, how heavy, which filaments."""

    plate: int
    prediction_seconds: float | None
    weight_grams: float | None
    filaments: tuple[PlannedFilament, ...]

    @property
    def grams(self) -> float:
        return sum(f.grams for f in self.filaments)

    @property
    def meters(self) -> float:
        return sum(f.meters for f in self.filaments)
