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


def plan_job(rng: random.Random, trays: list[tuple[int, dict[str, Any]]],
             count: int | None = None) -> tuple[tuple[Plate, ...], int, list[int]]:
    """Plates of a project (the printed one uses `count` of the loaded trays), the plate
    printed, and the `mapping` array (one entry per slicer filament)."""
    count = min(len(trays), count or rng.choice((1, 1, 2, 3, 4)))
    chosen = rng.sample(trays, count) if trays else []
    filaments = []
    for i, (_, tray) in enumerate(chosen):
        grams = round(rng.uniform(4.0, 120.0), 2)
        color = str(tray.get("tray_color") or "FFFFFFFF")[:6]
        filaments.append(Filament(i + 1, str(tray.get("tray_info_idx") or ""),
                                  str(tray["tray_type"]), f"#{color}", grams,
                                  round(grams / GRAMS_PER_METER, 2)))
    printed = rng.randint(1, 3)
    plates = tuple(
        Plate(n, rng.randint(900, 14000),
              tuple(filaments) if n == printed else tuple(filaments[:1]))
        for n in range(1, 4))
    return plates, printed, [hw for hw, _ in chosen]


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
        self._job: object = None    # the job the files were last written for
        self.written: list[Path] = []
        printer.on_job_start = self.job_started

    def job_started(self) -> dict[str, Any]:
        """Called as the printer enters an active state: for a new job, its file and the
        fields to merge."""
        printer = self.printer
        life = printer.job_life
        job = life.job if life is not None else None
        if job is None or job is self._job:
            return {}   # no job, or the same one going on (RUNNING after PREPARE, a pause)
        self._job = job
        faults = printer.faults
        plates, printed, mapping = plan_job(printer.rng, loaded_trays(printer.report),
                                            self.filament_count)
        self.plate = next(p for p in plates if p.index == printed)
        self.mapping = mapping
        name = job.file[: -len(".gcode.3mf")]
        if Fault.FILES_IN_CACHE in faults:
            path = self.storage / "cache" / f"{name}.3mf"
        else:
            path = self.storage / job.file
        kind = next((k for f, k in ((Fault.ZIP_BOMB, Kind.ZIP_BOMB), (Fault.XML_BOMB, Kind.XML_BOMB),
                                    (Fault.BIG_3MF, Kind.BIG)) if f in faults), Kind.NORMAL)
        lag = Fault.SUBTASK_LAG in faults and self.previous_name
        if lag:
            # the previous job's file is still there, with another plate only
            other = tuple(Plate(p.index, p.prediction, p.filaments) for p in plates
                          if p.index != printed)[:1]
            self._write(self.storage / f"{self.previous_name}.gcode.3mf", other, other[0].index,
                        Kind.NORMAL, 0.0)
        self.previous_name = name
        if lag:
            job.name = lag
        if Fault.NO_STORAGE not in faults:
            delay = self.file_delay if Fault.FILE_LATE in faults else 0.0
            self._write(path, plates, printed, kind, delay)
        param = f"Metadata/plate_{printed}.gcode"
        url = f"ftp:///cache/{name}.3mf" if Fault.FILES_IN_CACHE in faults else f"ftp:///{job.file}"
        printer.echo_project_file({
            "command": "project_file", "param": param, "subtask_name": job.name, "url": url,
            "ams_mapping": [slot_number(hw) for hw in mapping], "use_ams": bool(mapping),
            "task_id": job.task_id, "subtask_id": str(int(job.task_id) + 2)})
        return {"mapping": mapping, "subtask_name": job.name}

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


