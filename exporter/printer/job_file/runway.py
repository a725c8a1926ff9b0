"""Pure: for each tray the running job uses, the grams left on it against the grams the
job still needs (its plan less the progress made). Grams left are `remain` (percent, only
Bambu spools with the option on) times the spool's nominal `tray_weight`."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.snapshot import PrinterSnapshot


@dataclass(frozen=True)
class TrayRunway:
    ams: str
    tray: str
    material: str
    color: str
    needed: float          # grams the job still needs from this tray
    left: float | None     # grams on the spool; None when the printer does not know

    @property
    def runs_out(self) -> bool:
        return self.left is not None and self.left < self.needed


def runway(filament: FilamentStatus, snap: PrinterSnapshot) -> list[TrayRunway]:
    if filament.plan is None or not filament.job_active:
        return []
    done = snap.progress if snap.progress is not None else 0.0
    needed: dict[tuple[str, str], tuple[float, str, str]] = {}
    for f, tray in filament.trays:
        if tray is None:
            continue
        grams, material, color = needed.get((tray.ams, tray.tray), (0.0, f.material, f.color))
        needed[(tray.ams, tray.tray)] = (grams + f.grams * (1.0 - min(1.0, max(0.0, done))),
                                         material, color)
    spools = {(t.ams, t.tray): t for t in snap.trays}
    out = []
    for (ams, tray_id), (grams, material, color) in sorted(needed.items()):
        spool = spools.get((ams, tray_id))
        left = None
        if spool is not None and spool.remaining is not None and spool.weight is not None:
            left = spool.remaining * spool.weight
        out.append(TrayRunway(ams, tray_id, material, color, round(grams, 2),
                              None if left is None else round(left, 2)))
    return out
