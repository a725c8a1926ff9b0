"""One printer's filament: the current job's plan and trays, why fetches failed, and the
grams and metres used by jobs that ended (partial jobs scaled by how far they got).

Fed from two threads (the session's on job start and end, the fetch pool's with the
outcome), read by status(); the lock keeps each change whole. A job that ends before its
plan arrives is booked when the plan comes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.inventory.record import PrinterRecord
from exporter.printer.job_file.fetch import FetchResult, FetchTarget
from exporter.printer.job_file.plan import FETCH_REASONS, JobFileError, JobPlan, PlannedFilament
from exporter.printer.job_file.pool import JobFileFetcher
from exporter.printer.job_file.prices import PriceFile
from exporter.printer.job_file.three_mf import plate_number
from exporter.printer.job_file.trays import TrayRef, assign_trays, report_trays
from exporter.printer.jobs import JOB_RESULTS, EndedJob, Jobs

log = logging.getLogger(__name__)
A1_FAMILY = ("A1", "A1_MINI", "A1MINI")
# Materials come from files anyone may send: a printer's counters keep this many distinct
# ones, the rest go to "other", so a hostile file cannot grow the label set without end.
MAX_MATERIALS = 16


def ended_fraction(ended: EndedJob, printed: Mapping[str, Any]) -> float:
    """How much of its plan an ended job used: all of it when finished, else the progress
    it reached (the highest seen: firmware resets it on a cancel), else layers reached."""
    if ended.result == "finished":
        return 1.0
    if ended.job.progress is not None:
        return ended.job.progress
    layers = printed.get("total_layer_num")
    if ended.job.layer is not None and isinstance(layers, int) and layers > 0:
        return min(1.0, ended.job.layer / layers)
    return 0.0


@dataclass(frozen=True)
class FilamentServices:
    """What a process's sessions share for filament: the fetch pool and the prices."""

    fetcher: JobFileFetcher
    prices: PriceFile | None = None


@dataclass(frozen=True)
class FilamentStatus:
    """What the metrics and the page show of a printer's filament."""

    plan: JobPlan | None = None            # the current job's, None until fetched
    trays: tuple[tuple[PlannedFilament, TrayRef | None], ...] = ()
    job_active: bool = False
    fetch_errors: Mapping[str, int] = field(default_factory=dict)
    last_fetch_error: str = ""
    mapping_errors: int = 0                # mapping entries naming trays that do not exist
    used_grams: Mapping[str, float] = field(default_factory=dict)    # by material, counters
    used_meters: Mapping[str, float] = field(default_factory=dict)
    cost: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (material, currency)

    def counters_only(self) -> FilamentStatus:
        """Without the plan and its trays: what a printer shown not up needs (its plan is
        not shown then), at well under half the cost of sending each changed printer
        between processes while jobs run (bench/bench_job_files.py)."""
        if self.plan is None and not self.trays:
            return self
        return dataclasses.replace(self, plan=None, trays=())


@dataclass
class _Job:
    target: FetchTarget
    mapping: Any
    ams_mapping: Any
    tray_now: Any
    trays: Collection[TrayRef]
    plan: JobPlan | None = None
    assigned: tuple[tuple[PlannedFilament, TrayRef | None], ...] = ()
    ended_fraction: float | None = None    # set at the end; booked once the plan is in


class FilamentBook:
    def __init__(self, key: str, fetcher: JobFileFetcher | None,
                 prices: PriceFile | None = None) -> None:
        self.key = key
        self._fetcher = fetcher
        self._prices = prices
        self._cost: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._clear_data = False
        self._errors: dict[str, int] = {}
        self._last_error = ""
        self._mapping_errors = 0
        self._grams: dict[str, float] = {}
        self._meters: dict[str, float] = {}
        self._status = FilamentStatus()
        self._job_number: int | None = None     # the session's job numbers seen
        self._names: tuple[str, str, int | None] = ("", "", None)
        self._ended_number: int | None = None
        self.version = 0                       # bumped on every change the status shows

    def follow(self, jobs: Jobs, printed: Mapping[str, Any], record: PrinterRecord,
               model: str) -> None:
        """After the session's jobs changed: a new job fetches its plan, an ended one is
        booked, a late echo brings its ams_mapping. Cheap: no I/O here."""
        current = jobs.current
        ended = jobs.last_ended
        if ended is not None and ended.job.number == self._job_number \
                and ended.job.number != self._ended_number:
            self._ended_number = ended.job.number
            # an end not seen (the job was replaced) is counted nowhere, nor booked here
            self.job_ended(ended_fraction(ended, printed) if ended.result in JOB_RESULTS else 0.0)
        if current is None:
            return
        project = current.project
        plate = (project.plate if project is not None and project.plate is not None
                 else plate_number(current.gcode_file))
        names = (current.subtask_name, current.gcode_file, plate)
        if current.number != self._job_number:
            self._job_number, self._names = current.number, names
            target = FetchTarget(record.ip, record.access_code, *names)
            ams = printed.get("ams")
            self.job_started(target, model, printed.get("mapping"),
                             list(project.ams_mapping) if project and project.ams_mapping else None,
                             ams.get("tray_now") if isinstance(ams, Mapping) else None,
                             report_trays(printed))
            return
        if project is not None and project.ams_mapping:
            self.echo(list(project.ams_mapping))
        if names != self._names:
            # the job's identity filled in after its start (a LAN job's plate path, then
            # its name): ask again with what the printer says now, unless the plan is in
            self._names = names
            self._refetch(FetchTarget(record.ip, record.access_code, *names))

    def job_started(self, target: FetchTarget, model: str, mapping: Any, ams_mapping: Any,
                    tray_now: Any, trays: Collection[TrayRef]) -> None:
        target = FetchTarget(target.ip, target.access_code, target.subtask_name,
                             target.gcode_file, target.plate, self._clear_data,
                             model.upper() in A1_FAMILY, target.port)
        with self._lock:
            self._job = _Job(target, mapping, ams_mapping, tray_now, set(trays))
            self._changed()
        if self._fetcher is not None:
            self._fetcher.request(self.key, target, self.result)

    def _refetch(self, target: FetchTarget) -> None:
        with self._lock:
            job = self._job
            if job is None or job.plan is not None or job.ended_fraction is not None:
                return
            job.target = target = FetchTarget(
                target.ip, target.access_code, target.subtask_name, target.gcode_file,
                target.plate, job.target.clear_data, job.target.clear_fallback, job.target.port)
        if self._fetcher is not None:
            self._fetcher.request(self.key, target, self.result)

    def echo(self, ams_mapping: Any) -> None:
        """The `project_file` echo came after the job started: its ams_mapping."""
        with self._lock:
            job = self._job
            if job is not None and job.ams_mapping is None:
                job.ams_mapping = ams_mapping
                if job.plan is not None:
                    self._assign(job)
                    self._changed()

    def job_ended(self, fraction: float) -> None:
        """The job ended having done `fraction` of itself (1 finished; progress or layers
        reached for a failed or cancelled one)."""
        fraction = min(1.0, max(0.0, fraction)) if math.isfinite(fraction) else 0.0
        with self._lock:
            job = self._job
            if job is None or job.ended_fraction is not None:
                return
            job.ended_fraction = fraction
            if job.plan is not None:
                self._book(job.plan, fraction)
            self._changed()

    def result(self, outcome: FetchResult | JobFileError) -> None:
        """From the fetch pool: the plan, or why there is none."""
        with self._lock:
            job = self._job
            if isinstance(outcome, JobFileError):
                reason = outcome.reason if outcome.reason in FETCH_REASONS else "bad_file"
                self._errors[reason] = self._errors.get(reason, 0) + 1
                # a line when the reason changes; the same reason job after job is counted
                # (bambu_printer_job_fetch_errors_total), not logged again
                level = logging.DEBUG if self._last_error.startswith(reason + ":") else logging.WARNING
                self._last_error = f"{reason}: {outcome}"[:300]
                log.log(level, "printer %s: job file not read (%s)", self.key, self._last_error)
            else:
                self._clear_data = outcome.clear_data
                self._last_error = ""
                if job is not None:
                    job.plan = outcome.plan
                    self._mapping_errors += self._assign(job)
                    if job.ended_fraction is not None:
                        self._book(outcome.plan, job.ended_fraction)
            self._changed()

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.cancel(self.key, self.result)

    def status(self) -> FilamentStatus:
        with self._lock:
            return self._status

    @staticmethod
    def _assign(job: _Job) -> int:
        """Map the plan's filaments to trays; returns the entries naming missing trays."""
        assert job.plan is not None
        assignment = assign_trays(job.plan, job.trays, job.mapping, job.ams_mapping, job.tray_now)
        job.assigned = tuple((f, assignment.trays.get(f.slot)) for f in job.plan.filaments)
        return assignment.unknown_targets

    def _book(self, plan: JobPlan, fraction: float) -> None:
        prices = self._prices.current() if self._prices is not None else None
        for f in plan.filaments:
            material = f.material or "unknown"
            if material not in self._grams and len(self._grams) >= MAX_MATERIALS:
                material = "other"
            self._grams[material] = self._grams.get(material, 0.0) + f.grams * fraction
            self._meters[material] = self._meters.get(material, 0.0) + f.meters * fraction
            price = prices.price(f) if prices is not None else None
            if price is not None and prices is not None:
                # at the price in force when the job ended: a later price changes no history
                key = (material, prices.currency)
                self._cost[key] = self._cost.get(key, 0.0) + f.grams * fraction / 1000 * price

    def _changed(self) -> None:
        job = self._job
        self.version += 1
        self._status = FilamentStatus(
            plan=job.plan if job is not None else None,
            trays=job.assigned if job is not None else (),
            job_active=job is not None and job.ended_fraction is None,
            fetch_errors=dict(self._errors), last_fetch_error=self._last_error,
            mapping_errors=self._mapping_errors,
            used_grams=dict(self._grams), used_meters=dict(self._meters),
            cost=dict(self._cost))
