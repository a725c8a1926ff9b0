"""What a printer keeps on its storage for a job, and what it says about it: at each job's
start a 3MF is written where the firmware would put it (firmware modes choose where, when
and what), the report gains the `mapping` array and the `project_file` command is echoed.
Runs on the fleet's loop; big files are written off it.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from exporter.simulator.faults import Fault
from exporter.simulator.job_3mf import Filament, Kind, Plate, write_3mf
from exporter.simulator.life import Job
from exporter.simulator.printer import SimulatedPrinter

GRAMS_PER_METER = 2.98   # 1.75 mm PLA
BIG_SIZE = 100 * 1000 * 1000


def loaded_trays(report: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(`mapping` value, tray) for every loaded tray: AMS units, then external spools."""
    p = report["print"]
    out = []
    for unit in p.get("ams", {}).get("ams", []):
        for tray in unit.get("tray", []):
            if tray.get("tray_type"):
                out.append((int(unit["id"]) * 256 + int(tray["id"]), tray))
    external = p.get("vir_slot") or ([p["vt_tray"]] if isinstance(p.get("vt_tray"), dict) else [])
    for slot in external:
        if slot.get("tray_type"):
            out.append((int(slot["id"]) * 256, slot))
    return out


def slot_number(hw: int) -> int:
    """A `mapping` value as `ams_mapping` writes it: ams_id * 4 + slot, an AMS HT by its
    id, an external spool by its id."""
    unit, slot = hw >> 8, hw & 0xFF
    return unit if unit >= 128 else unit * 4 + slot


def plan_job(rng: random.Random, trays: list[tuple[int, dict[str, Any]]], printed: int,
             count: int | None = None) -> tuple[tuple[Plate, ...], list[int]]:
    """Plates of a project (the printed one uses `count` of the loaded trays; the others
    one filament) and the `mapping` array (one entry per slicer filament)."""
    count = min(len(trays), count or rng.choice((1, 1, 2, 3, 4)))
    chosen = rng.sample(trays, count) if trays else []
    filaments = []
    for i, (_, tray) in enumerate(chosen):
        grams = round(rng.uniform(4.0, 120.0), 2)
        color = str(tray.get("tray_color") or "FFFFFFFF")[:6]
        filaments.append(Filament(i + 1, str(tray.get("tray_info_idx") or ""),
                                  str(tray["tray_type"]), f"#{color}", grams,
                                  round(grams / GRAMS_PER_METER, 2)))
    plates = tuple(
        Plate(n, rng.randint(900, 14000),
              tuple(filaments) if n == printed else tuple(filaments[:1]))
        for n in range(1, max(3, printed) + 1))
    return plates, [hw for hw, _ in chosen]


class JobFiles:
    """One printer's job files: hooked into its job start."""

    def __init__(self, printer: SimulatedPrinter, storage: Path, file_delay: float = 8.0,
                 big_size: int = BIG_SIZE) -> None:
        self.printer = printer
        self.storage = storage
        self.file_delay = file_delay
        self.big_size = big_size
        self.plate: Plate | None = None        # the plate the current job prints
        self.mapping: list[int] = []
        self.filament_count: int | None = None  # tests choose; None: random
        self.previous_name = ""
        self._job: Job | None = None    # the job the files were last written for
        self.written: list[Path] = []
        printer.on_job_start = self.job_started

    def first_job(self) -> None:
        """A job already running when the fleet starts (its life's spread) has its file
        too: the exporter reads it on joining."""
        life = self.printer.job_life
        if life is not None and life.job is not None and life.state in ("PREPARE", "RUNNING",
                                                                         "PAUSE"):
            extra = self.job_started(life.job)
            if extra:
                self.printer.update({"print": extra}, emit=False)

    def job_started(self, job: Job) -> dict[str, Any]:
        """A job starts: its 3MF goes where the firmware puts it (LAN prints in `/` named
        after the project, cloud prints in /cache), the job's echo will carry the tray
        mapping, and the report gains the `mapping` array (returned, to merge)."""
        if job is self._job:
            return {}
        self._job = job
        printer = self.printer
        faults = printer.faults
        plates, mapping = plan_job(printer.rng, loaded_trays(printer.report), job.plate,
                                   self.filament_count)
        self.plate = next(p for p in plates if p.index == job.plate)
        self.mapping = mapping
        job.ams_mapping = [slot_number(hw) for hw in mapping]
        extra: dict[str, Any] = {"mapping": mapping}
        if Fault.SUBTASK_LAG in faults and self.previous_name:
            # subtask_name still names the previous job, whose file (another plate) stays;
            # the job's own file is found by its gcode_file, as for a cloud print
            lag = self.previous_name
            other = tuple(p for p in plates if p.index != job.plate)[:1]
            self._write(self.storage / f"{lag}.gcode.3mf", other, other[0].index,
                        Kind.NORMAL, 0.0)
            self.previous_name = job.name
            job.name, job.lan = lag, False
            extra.update(subtask_name=lag, **job.identity())
        else:
            self.previous_name = job.name
        stem = job.file[: -len(".gcode.3mf")]
        if Fault.FILES_IN_CACHE in faults or not job.lan:
            # cloud prints by their file's name; a LAN job's file has none but its project's
            path = self.storage / "cache" / f"{job.name if job.lan else stem}.3mf"
            if Fault.SUBTASK_LAG in faults:
                path = self.storage / job.file
        else:
            path = self.storage / f"{job.name}.gcode.3mf"
        kind = next((k for f, k in ((Fault.ZIP_BOMB, Kind.ZIP_BOMB), (Fault.XML_BOMB, Kind.XML_BOMB),
                                    (Fault.BIG_3MF, Kind.BIG)) if f in faults), Kind.NORMAL)
        if Fault.NO_STORAGE not in faults:
            delay = self.file_delay if Fault.FILE_LATE in faults else 0.0
            self._write(path, plates, job.plate, kind, delay)
        return extra

    def _write(self, path: Path, plates: tuple[Plate, ...], printed: int, kind: Kind,
               delay: float) -> None:
        self.written.append(path)
        loop = asyncio.get_running_loop()

        def write() -> None:
            if kind is Kind.NORMAL:
                write_3mf(path, plates, printed, kind)
            else:   # hundreds of megabytes: off the fleet's loop
                loop.run_in_executor(None, write_3mf, path, plates, printed, kind, self.big_size)

        if delay > 0:
            loop.call_later(delay, write)
        else:
            write()


