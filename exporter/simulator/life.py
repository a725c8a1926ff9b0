"""A printer's life: jobs from PREPARE through RUNNING (and PAUSE on a runout) to FINISH
or FAILED, idle gaps between them, temperatures heading to their targets.

Jobs as real printers run them: each has an identity (cloud jobs ids and a file name, LAN
jobs ids "0" and the plate's gcode path, which repeats from job to job) and announces
itself with the project_file echo (`Life.echo`, sent by the printer) as it starts; it ends
finished, failed with an error, or cancelled by a user: FAILED with print_error
0x0300400C and progress and layer reset to 0, or (CANCEL_TO_IDLE firmware) straight back
to IDLE. With FLAPPING firmware a job's FINISH flaps back to RUNNING twice before it
stays. `ended` counts every job's end by result, each job once: what an observer should
count.

Pure logic: `Life.step(report, dt)` reads the current report and returns the fields to
change; the printer merges them and decides how to send them (full or delta).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from exporter.simulator import reports
from exporter.simulator.models import AMS_2_PRO, AMS_HT, Model

STATES = ("IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED")
ACTIVE = ("PREPARE", "RUNNING", "PAUSE")
CANCELLED = 0x0300400C   # print_error of a job the user cancelled

AMBIENT = 24.0


@dataclass
class Job:
    name: str
    file: str
    task_id: str
    layers: int
    duration: float         # seconds of printing at 100 % speed
    nozzle_target: float
    bed_target: float
    fail_at: float | None   # progress at which it fails, if it will
    runout_at: float | None  # progress at which the filament runs out, if it will
    elapsed: float = 0.0
    started: float = field(default_factory=time.time)  # gcode_start_time, epoch seconds
    # Drawn from the task id (not the life's generator, so seeded fleets stay as they were).
    lan: bool = False          # sent on the LAN: ids "0", gcode_file the plate's path
    plate: int = 1
    cancel_at: float | None = None   # progress at which a user cancels it, if one will
    ended: bool = False        # its end was counted (a flap back to RUNNING is not a new job)
    # slicer filament -> tray (ams_id * 4 + slot) when its file says (job_files.py), else
    # the echo's stand-in
    ams_mapping: list[int] | None = None

    def __post_init__(self) -> None:
        own = random.Random(self.task_id)
        self.lan = own.random() < 0.5
        self.plate = own.randint(1, 4)
        if self.fail_at is None and own.random() < 0.08:
            self.cancel_at = own.uniform(0.05, 0.9)

    def identity(self) -> dict[str, Any]:
        """subtask_id, task_id, gcode_file as the printer reports them."""
        if self.lan:
            return {"task_id": "0", "subtask_id": "0",
                    "gcode_file": f"/data/Metadata/plate_{self.plate}.gcode"}
        return {"task_id": self.task_id, "subtask_id": str(int(self.task_id) + 2),
                "gcode_file": self.file}

    def project_file(self, sequence: str) -> dict[str, Any]:
        """The project_file command as the printer echoes it when the job starts."""
        url = (f"ftp://{self.file}" if self.lan
               else f"https://files.example.invalid/{self.task_id}/{self.file}"
                    f"?token=sim-{self.task_id}")
        return {"print": {
            "command": "project_file", "sequence_id": sequence,
            "param": f"Metadata/plate_{self.plate}.gcode", "url": url,
            "subtask_name": self.name, "subtask_id": self.identity()["subtask_id"],
            "task_id": self.identity()["task_id"], "project_id": "0", "profile_id": "0",
            "use_ams": True, "timelapse": False,
            "ams_mapping": self.ams_mapping if self.ams_mapping is not None else [self.plate - 1],
            "bed_leveling": True, "result": "success", "reason": ""}}

    @property
    def extruder(self) -> int:
        """Which nozzle of a dual-nozzle printer prints this job (0 right, 1 left)."""
        return int(self.task_id) % 2

    @property
    def door_opened(self) -> bool:
        """Whether someone opens the door to take this job's part off when it finishes."""
        return int(self.task_id) % 3 != 0


def new_job(rng: random.Random, model: Model, fail: bool) -> Job:
    name = rng.choice(reports.JOBS)
    kind = rng.choice(("PLA", "PLA", "PLA", "PETG", "ABS"))
    nozzle, bed = {"PLA": (220.0, 55.0), "PETG": (250.0, 70.0), "ABS": (260.0, 90.0)}[kind]
    if model.code.startswith("A1") and kind == "ABS":
        nozzle, bed = 220.0, 55.0  # open-frame printers mostly print PLA
    task = str(rng.randint(10**8, 10**9 - 1))
    return Job(
        name=name, file=f"{name.replace(' ', '_')}.gcode.3mf", task_id=task,
        layers=rng.randint(40, 600), duration=rng.uniform(15 * 60, 4 * 3600),
        nozzle_target=nozzle, bed_target=bed,
        fail_at=rng.uniform(0.05, 0.9) if fail or rng.random() < 0.08 else None,
        runout_at=rng.uniform(0.2, 0.95) if rng.random() < 0.12 else None,
    )


def idle_stage(model: Model) -> int:
    return -1 if model.full_reports else 255


def state_fields(model: Model, state: str, job: Job | None, rng: random.Random,
                 progress: float = 0.0, health: reports.Health | None = None,
                 cancelled: bool = False) -> dict[str, Any]:
    """The fields that go with a gcode_state, consistent with each other (FAILED with
    `cancelled`: a user's cancel, which resets progress and layer to 0)."""
    if state not in STATES:
        raise ValueError(f"unknown gcode_state {state!r} (choose from {', '.join(STATES)})")
    p: dict[str, Any] = {"gcode_state": state}
    in_job = state in ("PREPARE", "RUNNING", "PAUSE")
    p["mc_print_stage"] = "2" if in_job else "1"
    if job is not None:
        p["gcode_start_time"] = str(int(job.started))
        p.update({**job.identity(), "subtask_name": job.name, "total_layer_num": job.layers,
                  "print_type": "local" if job.lan else "cloud",
                  "gcode_file_prepare_percent": "100"})
    if state == "IDLE":
        p.update({"stg": [], "stg_cur": idle_stage(model), "mc_percent": 0,
                  "mc_remaining_time": 0, "layer_num": 0, "total_layer_num": 0,
                  "print_type": "idle", "print_error": 0, "gcode_file": "",
                  "subtask_name": "", "nozzle_target_temper": 0.0, "bed_target_temper": 0.0,
                  "cooling_fan_speed": "0", "big_fan1_speed": "0", "big_fan2_speed": "0",
                  "gcode_file_prepare_percent": "0", "mc_print_sub_stage": 0})
    elif state == "PREPARE":
        p.update({"stg": list(reports.PREPARE_STAGES), "stg_cur": reports.PREPARE_STAGES[0],
                  "mc_percent": 0, "layer_num": 0, "print_error": 0})
        if job is not None:
            p.update({"nozzle_target_temper": job.nozzle_target,
                      "bed_target_temper": job.bed_target,
                      "mc_remaining_time": math.ceil(job.duration / 60)})
    elif state in ("RUNNING", "PAUSE"):
        p["stg_cur"] = reports.STAGE_PRINTING if state == "RUNNING" else reports.STAGE_PAUSED_USER
        p["print_error"] = 0
        if job is not None:
            p.update(progress_fields(job, progress))
            p.update({"nozzle_target_temper": job.nozzle_target,
                      "bed_target_temper": job.bed_target})
        if state == "RUNNING":
            p.update({"cooling_fan_speed": reports.fan_step(1.0 if progress > 0.01 else 0.0),
                      "big_fan1_speed": reports.fan_step(0.4), "heatbreak_fan_speed": "15"})
    else:  # FINISH, FAILED: the job's numbers stay, heaters and fans go off
        p.update({"stg_cur": idle_stage(model), "mc_remaining_time": 0,
                  "nozzle_target_temper": 0.0, "bed_target_temper": 0.0,
                  "cooling_fan_speed": "0", "big_fan1_speed": "0", "big_fan2_speed": "0"})
        if state == "FINISH":
            p.update({"mc_percent": 100, "print_error": 0})
            if job is not None:
                p["layer_num"] = job.layers
        elif cancelled:
            p.update({"print_error": CANCELLED, "mc_percent": 0, "layer_num": 0})
        else:
            error, attr, code = rng.choice(reports.FAILURES)
            p["print_error"] = error
            p["hms"] = [reports.hms_entry(attr, code)]
            if job is not None:
                p.update({"mc_percent": int(progress * 100),
                          "layer_num": max(1, int(progress * job.layers))})
    if state != "FAILED" and state != "PAUSE":
        p.setdefault("hms", [])
    if model.door:
        # the door opens when the part is taken off, and is shut for the next job
        p.update(reports.door_fields(model, state in ("FINISH", "FAILED") and job is not None
                                     and job.door_opened, health))
    if model.nozzles > 1 and job is not None and in_job:
        p["device"] = {"extruder": {"state": reports.extruder_state(model.nozzles,
                                                                     job.extruder)}}
    return p


def progress_fields(job: Job, progress: float) -> dict[str, Any]:
    remaining = max(0.0, job.duration * (1.0 - progress))
    return {"mc_percent": min(99, int(progress * 100)),
            "layer_num": max(1, math.ceil(progress * job.layers)),
            "total_layer_num": job.layers,
            "mc_remaining_time": math.ceil(remaining / 60)}


def approach(current: float, target: float, dt: float, tau: float) -> float:
    return target + (current - target) * math.exp(-dt / tau)


class Life:
    """One printer's job cycle. `fails` is asked at each new job (the FAIL_PRINT fault)."""

    def __init__(self, model: Model, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.state = "IDLE"
        self.job: Job | None = None
        self.phase_left = rng.uniform(30, 300)  # seconds until the next transition
        self.prepare_total = 1.0
        self.pause_left = 0.0
        self.wifi_left = rng.uniform(10, 60)
        self.nozzle: float | None = None
        self.bed: float | None = None
        self.chamber: float | None = None
        self.shown: tuple[float | None, float | None] = (None, None)
        self.active: int | None = None  # the extruder the nozzle temperature is of
        self.dry_left: dict[str, float] = {}  # AMS id -> seconds of drying left
        self.health = reports.Health()  # the printer's; the door bits go beside it
        # States left only by someone's hand: a run-out pause, a failed job's plate.
        self.hold: frozenset[str] = frozenset()
        self.cancel_to_idle = False   # firmware whose cancel goes back to IDLE
        self.flapping = False         # firmware whose FINISH flaps back to RUNNING
        self.flaps_left = 0
        self.ended: dict[str, int] = {}   # jobs ended, by result, each once
        self.echo: Job | None = None      # a job just started: the printer echoes it

    def take_echo(self, sequence: str) -> dict[str, Any] | None:
        """The project_file echo of the job that just started, once."""
        job, self.echo = self.echo, None
        return job.project_file(sequence) if job is not None else None

    # -- transitions -------------------------------------------------------------------

    def enter(self, state: str, fail_next: bool = False,
              progress: float | None = None, cancelled: bool = False) -> dict[str, Any]:
        """Go to `state` now; returns the fields to merge."""
        rng = self.rng
        self._count_end(state, cancelled)
        if state in ("PREPARE", "RUNNING", "PAUSE") and self.job is None or state == "PREPARE":
            self.job = self.echo = new_job(rng, self.model, fail_next)
        job = self.job
        if progress is None:
            progress = job.elapsed / job.duration if job else 0.0
        if job is not None:
            job.elapsed = progress * job.duration
        self.state = state
        if state == "IDLE":
            self.job = None
            self.phase_left = rng.uniform(60, 600)
        elif state == "PREPARE":
            self.prepare_total = self.phase_left = rng.uniform(60, 240)
        elif state == "PAUSE":
            self.pause_left = rng.uniform(60, 400)
        elif state in ("FINISH", "FAILED"):
            self.phase_left = rng.uniform(60, 900)
        fields = state_fields(self.model, state, job, rng, progress, self.health, cancelled)
        if state == "PAUSE" and job is not None and job.runout_at is not None:
            fields["stg_cur"] = reports.STAGE_FILAMENT_RUNOUT
        return fields

    def _count_end(self, state: str, cancelled: bool) -> None:
        job = self.job
        if self.state not in ACTIVE or job is None or job.ended:
            return
        result = {"FINISH": "finished", "IDLE": "cancelled",
                  "FAILED": "cancelled" if cancelled else "failed"}.get(state)
        if result is None:
            return
        job.ended = True
        self.ended[result] = self.ended.get(result, 0) + 1
        if state == "FINISH" and self.flapping:
            self.flaps_left = 2

    def cancel(self, progress: float | None = None) -> dict[str, Any]:
        """A user cancels the active job (none: nothing happens)."""
        if self.state not in ACTIVE:
            return {}
        if self.cancel_to_idle:
            return self.enter("IDLE", progress=progress)
        return self.enter("FAILED", progress=progress, cancelled=True)

    def run_out(self) -> dict[str, Any]:
        """Pause the job (one is started if none runs) on a filament run-out."""
        if self.state not in ("RUNNING", "PAUSE") or self.job is None:
            self.job = new_job(self.rng, self.model, False)
            self.job.runout_at = self.job.fail_at = None
            progress = self.rng.uniform(0.1, 0.8)
            fields = self.enter("RUNNING", progress=progress)
        else:
            fields = {}
        if self.job is not None:
            self.job.runout_at = None
        fields.update(self.enter("PAUSE"))
        fields["stg_cur"] = reports.STAGE_FILAMENT_RUNOUT
        return fields

    def spread(self, fail: bool) -> dict[str, Any]:
        """A random starting point, so a fresh fleet shows every state at once."""
        rng = self.rng
        state = "FAILED" if fail else rng.choices(
            STATES, weights=(25, 8, 42, 5, 15, 5))[0]
        if state in ("RUNNING", "PAUSE", "FINISH", "FAILED"):
            self.job = new_job(rng, self.model, fail)
            self.job.runout_at = None
        progress = rng.uniform(0.02, 0.95) if state != "FINISH" else 1.0
        if self.job is not None:  # it started as long ago as it has been printing
            self.job.started -= progress * self.job.duration + 180
        fields = self.enter(state, fail, progress)
        self.echo = None   # it started before anyone watched
        hot = state in ("PREPARE", "RUNNING", "PAUSE")
        if hot and self.job is not None:
            heat = 0.3 if state == "PREPARE" else 1.0
            fields["nozzle_temper"] = AMBIENT + (self.job.nozzle_target - AMBIENT) * heat
            fields["bed_temper"] = AMBIENT + (self.job.bed_target - AMBIENT) * heat
        if state == "PREPARE":
            self.phase_left = self.prepare_total * rng.uniform(0.2, 1.0)
        return fields

    # -- time ---------------------------------------------------------------------------

    def step(self, report: dict[str, Any], dt: float, fail_next: bool) -> dict[str, Any]:
        """Advance `dt` simulated seconds; returns the fields to merge (possibly none)."""
        rng = self.rng
        doc = report["print"]
        out: dict[str, Any] = {}
        if self.state in self.hold:
            pass
        elif self.state == "FINISH" and self.flaps_left > 0:
            self.flaps_left -= 1
            out.update(self.enter("RUNNING", progress=1.0))
        elif self.state == "IDLE" or self.state in ("FINISH", "FAILED"):
            self.phase_left -= dt
            if self.phase_left <= 0:
                if self.state != "IDLE" and rng.random() < 0.3:
                    out.update(self.enter("IDLE"))
                else:
                    out.update(self.enter("PREPARE", fail_next))
        elif self.state == "PREPARE":
            self.phase_left -= dt
            done = 1.0 - max(0.0, self.phase_left) / self.prepare_total
            stages = reports.PREPARE_STAGES
            out["stg_cur"] = stages[min(len(stages) - 1, int(done * len(stages)))]
            if self.phase_left <= 0:
                out.update(self.enter("RUNNING", progress=0.0))
        elif self.state == "RUNNING" and self.job is not None:
            job = self.job
            job.elapsed += dt * doc.get("spd_mag", 100) / 100.0
            progress = min(1.0, job.elapsed / job.duration)
            if job.fail_at is not None and progress >= job.fail_at:
                out.update(self.enter("FAILED", progress=job.fail_at))
            elif job.cancel_at is not None and progress >= job.cancel_at and not job.ended:
                out.update(self.cancel(progress=job.cancel_at))
            elif job.runout_at is not None and progress >= job.runout_at:
                out.update(self.enter("PAUSE", progress=job.runout_at))
                job.runout_at = None
                out["stg_cur"] = reports.STAGE_FILAMENT_RUNOUT
            elif progress >= 1.0:
                out.update(self.enter("FINISH", progress=1.0))
            else:
                out.update(progress_fields(job, progress))
                out["cooling_fan_speed"] = reports.fan_step(1.0 if out["layer_num"] > 2 else 0.0)
                self._use_filament(doc, dt, out)
        elif self.state == "PAUSE":
            self.pause_left -= dt
            if self.pause_left <= 0:
                out.update(self.enter("RUNNING"))
        self._temperatures(doc, dt, out)
        self._dry(doc, dt, out)
        self.wifi_left -= dt
        if self.wifi_left <= 0:
            self.wifi_left = rng.uniform(10, 60)
            dbm = int(doc.get("wifi_signal", "-55dBm")[:-3]) + rng.choice((-2, -1, 1, 2))
            out["wifi_signal"] = reports.wifi(max(-85, min(-30, dbm)))
        return out

    def _temperatures(self, doc: dict[str, Any], dt: float, out: dict[str, Any]) -> None:
        active = self._active_extruder(doc, out)
        if active != self.active:  # the other nozzle takes over: it starts from idle
            if self.active is not None:
                self.nozzle = AMBIENT + 2
            self.active = active
        nozzle_target = out.get("nozzle_target_temper", doc.get("nozzle_target_temper", 0.0))
        bed_target = out.get("bed_target_temper", doc.get("bed_target_temper", 0.0))
        # Exact temperatures are kept here: the report's rounded values would stall the
        # approach once each step is smaller than the rounding.
        # A value set from outside (spread, a test's update) is taken over.
        if "nozzle_temper" in out or self.nozzle is None or \
                doc.get("nozzle_temper") != self.shown[0]:
            self.nozzle = float(out.get("nozzle_temper", doc.get("nozzle_temper", AMBIENT)))
        if "bed_temper" in out or self.bed is None or doc.get("bed_temper") != self.shown[1]:
            self.bed = float(out.get("bed_temper", doc.get("bed_temper", AMBIENT)))
        self.nozzle = approach(self.nozzle, nozzle_target or AMBIENT, dt, 25.0)
        self.bed = approach(self.bed, bed_target or AMBIENT, dt, 90.0)
        nozzle, bed = self.nozzle, self.bed
        # Sensor noise only where a heater regulates; a cold printer reads steady.
        if nozzle_target:
            nozzle += self.rng.uniform(-0.4, 0.4)
        if bed_target:
            bed += self.rng.uniform(-0.2, 0.2)
        model = self.model
        if model.full_reports or model.packed:
            out["nozzle_temper"], out["bed_temper"] = float(round(nozzle)), float(round(bed))
        else:
            # P1/A1 send temperatures in 1/32 degree steps
            out["nozzle_temper"], out["bed_temper"] = round(nozzle * 32) / 32, round(bed * 32) / 32
        if model.device:
            device = self._device_temperatures(doc, out, dt, nozzle, nozzle_target, bed,
                                               bed_target)
            reports.merge(out.setdefault("device", {}), device)
        self.shown = (out["nozzle_temper"], out["bed_temper"])

    @staticmethod
    def _active_extruder(doc: dict[str, Any], out: dict[str, Any]) -> int:
        def state(p: dict[str, Any]) -> Any:
            return p.get("device", {}).get("extruder", {}).get("state")

        value = state(out)
        return (int(value if value is not None else state(doc) or 0) >> 4) & 0xF

    def _device_temperatures(self, doc: dict[str, Any], out: dict[str, Any], dt: float,
                             nozzle: float, nozzle_target: float, bed: float,
                             bed_target: float) -> dict[str, Any]:
        """print.device's temperatures: packed (target << 16 | current) on newer firmware.
        The active extruder tracks the nozzle; a second one idles warm."""
        model = self.model

        def temp(current: float, target: float) -> int:
            return reports.pack(current, target) if model.packed else round(current)

        device = doc.get("device", {})
        chamber: dict[str, Any] = {}
        if model.chamber_sensor:
            chamber_target = AMBIENT + (10.0 if bed_target >= 80 else 4.0 if bed_target else 0.0)
            if self.chamber is None:
                packed = int(device.get("ctc", {}).get("info", {}).get("temp", AMBIENT))
                self.chamber = float(packed & 0xFFFF)
            self.chamber = approach(self.chamber, chamber_target, dt, 300.0)
            chamber = {"ctc": {"info": {"temp": temp(self.chamber, 0)}}}
        extruders = device.get("extruder", {}).get("info", [])
        active = self._active_extruder(doc, out)
        fields: dict[str, Any] = {"bed": {"info": {"temp": temp(bed, bed_target)}},
                                  "bed_temp": round(bed), **chamber}
        if extruders:
            fields["extruder"] = {"info": [
                dict(e, temp=temp(nozzle, nozzle_target) if i == active
                     else temp(AMBIENT + 2, 0),
                     htar=round(nozzle_target) if i == active else 0)
                for i, e in enumerate(extruders)]}
        return fields

    def _dry(self, doc: dict[str, Any], dt: float, out: dict[str, Any]) -> None:
        """AMS 2 Pro and AMS HT units dry filament now and then (ams[].info bits 4-7, with
        dry_time the minutes left), mostly while the printer is idle."""
        units = out.get("ams", {}).get("ams") or doc.get("ams", {}).get("ams", [])
        if not any(reports.ams_kind(u.get("info")) in (AMS_2_PRO, AMS_HT) for u in units):
            return
        changed = False
        new_units = [dict(u) for u in units]
        for unit in new_units:
            if reports.ams_kind(unit.get("info")) not in (AMS_2_PRO, AMS_HT):
                continue
            key = str(unit["id"])
            drying = reports.ams_drying(unit.get("info"))
            if drying:
                left = self.dry_left.get(key, float(unit.get("dry_time", 0)) * 60.0) - dt
                self.dry_left[key] = left
                minutes = max(0, math.ceil(left / 60.0))
                if left <= 0:
                    kind = reports.ams_kind(unit.get("info"))
                    unit.update(info=reports.ams_info(kind, False), dry_time=0)
                    self.dry_left.pop(key, None)
                    changed = True
                elif minutes != unit.get("dry_time"):
                    unit["dry_time"] = minutes
                    changed = True
            elif self.state == "IDLE" and self.rng.random() < dt / 7200.0:
                kind = reports.ams_kind(unit.get("info"))
                unit.update(info=reports.ams_info(kind, True), dry_time=self.rng.randint(60, 480))
                changed = True
        if changed:
            out.setdefault("ams", {})["ams"] = new_units

    def _use_filament(self, doc: dict[str, Any], dt: float, out: dict[str, Any]) -> None:
        ams = doc.get("ams", {})
        units = ams.get("ams", [])
        loaded = [(u, t) for u in units for t in u.get("tray", []) if t.get("state")]
        if not loaded:
            return
        if ams.get("tray_now") in ("255", "254"):
            unit, tray = self.rng.choice(loaded)
            slot = str(reports.tray_slot(int(unit["id"]), int(tray["id"])))
            out["ams"] = {"tray_now": slot, "tray_tar": slot}
            return
        # 1 % of a spool about every 12 minutes of printing
        if self.rng.random() < dt / 720.0:
            now = int(ams["tray_now"])
            new_units = [dict(u, tray=[dict(t) for t in u["tray"]]) for u in units]
            for u in new_units:
                for t in u["tray"]:
                    if reports.tray_slot(int(u["id"]), int(t["id"])) == now \
                            and t.get("remain", -1) > 0:
                        t["remain"] -= 1
            out["ams"] = {"ams": new_units}
