"""One emulated printer: its report, its life, its faults and who is listening.

Runs on the fleet's event loop only (no locks); the Python API marshals calls onto the
loop. Sending is the printer's business: an X1-class printer sends its whole report every
second, a P1/A1 printer only the keys that changed (deltas), both a full one on pushall.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from exporter.printer.mqtt import codec as mqtt
from exporter.simulator import reports
from exporter.simulator.faults import Fault
from exporter.simulator.life import ACTIVE, Job, Life
from exporter.simulator.models import Model


@dataclass(frozen=True)
class SimulatedRecord:
    """A simulated printer as the inventory lists it. The access code stays out of repr."""

    name: str
    ip: str
    serial: str
    access_code: str = field(repr=False)
    model: str


class Session(Protocol):
    """What the printer needs of a connected client (see server.py)."""

    subscribed: bool

    def send(self, packet: bytes) -> None: ...

    def drop(self) -> None: ...


def changes(current: Any, partial: Any) -> Any:
    """The part of `partial` that differs from `current` (objects compared key by key,
    lists and scalars as wholes); None when nothing differs."""
    if isinstance(partial, dict) and isinstance(current, dict):
        out = {}
        for key, value in partial.items():
            if key in current:
                diff = changes(current[key], value)
                if diff is not None:
                    out[key] = diff
            else:
                out[key] = value
        return out or None
    if current == partial and type(current) is type(partial):
        return None
    return partial


def wrong_access_code(code: str) -> str:
    """A deterministic wrong access code: same shape, never equal."""
    return "".join(str((int(c) + 5) % 10) if c.isdigit() else c for c in code)


HEALTH_FAULTS = frozenset({Fault.SDCARD, Fault.TANGLE, Fault.FIRMWARE_UPDATE})
HMS_FAULTS = frozenset({Fault.HMS, Fault.HMS_SERIOUS})


class SimulatedPrinter:
    def __init__(self, record: SimulatedRecord, model: Model, rng: random.Random,
                 life: bool, faults: set[Fault]) -> None:
        self.record = record
        self.model = model
        self.rng = rng
        self.report: dict[str, Any] = reports.full_report(model, rng)
        self.life: Life | None = Life(model, rng) if life else None
        self._manual_life: Life | None = None
        self.faults: set[Fault] = set(faults)
        self.base_health = reports.usual_health(record.serial)
        if self.life is not None:
            self.life.health = self.health
        self._hold()
        self.sessions: set[Session] = set()
        self.disconnects = 0
        self.pings = 0           # PINGREQs answered
        self.connects_received = 0
        self.good_sent = False   # GARBAGE_AFTER_FIRST: its one good report went out
        self.requests: list[dict[str, Any]] = []
        # job files (FTPS on): called with each job as it starts, returns fields to merge
        self.on_job_start: Callable[[Job], dict[str, Any]] | None = None
        self.ftp_connections = 0
        self.sequence = rng.randint(1000, 90000)
        self.pending: dict[str, Any] = {}
        self.topic_report = f"device/{record.serial}/report"
        self.topic_request = f"device/{record.serial}/request"
        if self.life is not None:
            self._merge({"print": self.life.spread(Fault.FAIL_PRINT in self.faults)})
        elif Fault.FAIL_PRINT in self.faults:
            self._merge({"print": self._any_life().enter("FAILED")})
        self._merge({"print": self._health_fields()})
        if Fault.RUNOUT in self.faults:
            self._merge({"print": self._any_life().run_out()})
        if self.faults & HMS_FAULTS:
            self._merge({"print": {"hms": self._with_fault_hms(self.report["print"]["hms"])}})
        if Fault.BOOT_STAGE_ZERO in self.faults and self.report["print"]["gcode_state"] in (
                "IDLE", "FINISH", "FAILED"):
            # Real firmware after boot: resting, yet stg_cur 0 ("printing"), print_type idle.
            self._merge({"print": {"stg_cur": 0, "print_type": "idle"}})
        self.pending = {}

    # -- state ----------------------------------------------------------------------------

    def _with_fault_hms(self, hms: list[dict[str, int]]) -> list[dict[str, int]]:
        wanted = []
        if Fault.HMS in self.faults:
            # Two fixed warnings per printer, chosen by serial so they are stable.
            pick = int(self.record.serial[-4:]) % len(reports.WARNINGS)
            wanted += [reports.hms_entry(*reports.WARNINGS[pick]),
                       reports.hms_entry(*reports.WARNINGS[(pick + 1) % len(reports.WARNINGS)])]
        if Fault.HMS_SERIOUS in self.faults:
            wanted.append(reports.hms_entry(*reports.SERIOUS))
        return list(hms) + [w for w in wanted if w not in hms]

    @property
    def health(self) -> reports.Health:
        """The printer's usual health with its faults on top."""
        base = self.base_health
        return replace(
            base,
            sdcard="abnormal" if Fault.SDCARD in self.faults else base.sdcard,
            tangle=base.tangle or Fault.TANGLE in self.faults,
            update=reports.NEXT_FIRMWARE if Fault.FIRMWARE_UPDATE in self.faults
            else base.update)

    def _health_fields(self) -> dict[str, Any]:
        return reports.health_fields(self.model, self.health,
                                     reports.door_is_open(self.model, self.report["print"]))

    def _hold(self) -> None:
        """A run-out pause and a failed job wait for a hand while their fault lasts, as
        does every finished plate with PLATE_WAITING; firmware modes of its jobs."""
        if self.life is not None:
            self.life.hold = frozenset(
                state for fault, state in ((Fault.RUNOUT, "PAUSE"), (Fault.FAIL_PRINT, "FAILED"),
                                           (Fault.PLATE_WAITING, "FINISH"),
                                           (Fault.PLATE_WAITING, "FAILED"))
                if fault in self.faults)
            self._modes(self.life)

    def _modes(self, life: Life) -> None:
        life.cancel_to_idle = Fault.CANCEL_TO_IDLE in self.faults
        life.flapping = Fault.FLAPPING in self.faults

    def _show_health(self) -> None:
        if self.life is not None:
            self.life.health = self.health
        self.update({"print": self._health_fields()})

    def _any_life(self) -> Life:
        """The printer's life, or one for a single transition when it has none."""
        if self.life is not None:
            life = self.life
        else:   # kept, so that a job set by hand keeps its name from PREPARE to FINISH
            if self._manual_life is None:
                self._manual_life = Life(self.model, self.rng)
            life = self._manual_life
        life.health = self.health
        self._modes(life)
        return life

    @property
    def job_life(self) -> Life | None:
        """The life whose job the printer runs now (its own, or the one set by hand)."""
        return self.life if self.life is not None else self._manual_life

    def _merge(self, partial: dict[str, Any]) -> None:
        diff = changes(self.report, partial)
        if diff:
            reports.merge(self.report, diff)
            reports.merge(self.pending, diff)

    def _file_job(self, life: Life) -> None:
        """A job that just started gets its file on the printer's storage (FTPS on), before
        its echo goes out: the echo carries the tray mapping the file's plan needs."""
        if self.on_job_start is not None and life.echo is not None:
            extra = self.on_job_start(life.echo)
            if extra:
                self._merge({"print": extra})

    def update(self, partial: dict[str, Any], emit: bool = True) -> None:
        """Merge fields into the report; with emit, send them now (full or delta)."""
        if not isinstance(partial, dict) or not all(isinstance(v, dict) for v in partial.values()):
            raise ValueError('update takes {"print": {...}} style objects')
        if "print" in partial and "hms" in partial["print"] and self.faults & HMS_FAULTS:
            partial = copy.deepcopy(partial)
            partial["print"]["hms"] = self._with_fault_hms(partial["print"]["hms"])
        self._merge(partial)
        if emit:
            self.flush()

    def set_state(self, state: str) -> None:
        """gcode_state with the fields that go with it (stg_cur, mc_print_stage, ...)."""
        life = self._any_life()
        fields = life.enter(state.upper(), Fault.FAIL_PRINT in self.faults)
        self._file_job(life)
        self._send_echo(life)
        self.update({"print": fields})

    def cancel(self) -> None:
        """A user cancels the job: FAILED with 0x0300400C, or IDLE (CANCEL_TO_IDLE)."""
        life = self._any_life()
        if self.life is None:   # a one-off life: it learns the state from the report
            if self.report["print"].get("gcode_state") not in ACTIVE:
                return
            life.state = "RUNNING"
        fields = life.cancel()
        if fields:
            self.update({"print": fields})

    @property
    def jobs_ended(self) -> dict[str, int]:
        """Jobs its life ended, by result, each once (none without a life)."""
        return dict(self.life.ended) if self.life is not None else {}

    def _send_echo(self, life: Life) -> None:
        """A job that just started echoes its project_file command first."""
        echo = life.take_echo(self._next_sequence())
        if echo is not None and Fault.SILENT not in self.faults:
            self._publish(echo)

    def tick(self, dt: float) -> None:
        """Advance the printer's life by `dt` simulated seconds (changes wait for flush)."""
        if self.life is None:
            return
        fields = self.life.step(self.report, dt, Fault.FAIL_PRINT in self.faults)
        self._file_job(self.life)
        if self._listening():
            self._send_echo(self.life)
        else:
            self.life.echo = None
        if fields:
            if "hms" in fields and self.faults & HMS_FAULTS:
                fields["hms"] = self._with_fault_hms(fields["hms"])
            self._merge({"print": fields})

    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)
        self._hold()
        if fault in HMS_FAULTS:
            self.update({"print": {"hms": self.report["print"]["hms"]}})
        elif fault is Fault.RUNOUT:
            self.update({"print": self._any_life().run_out()})
        elif fault is Fault.FAIL_PRINT:
            self.set_state("FAILED")
        elif fault in (Fault.HUNG, Fault.DROP):
            self.drop_sessions()
        elif fault in HEALTH_FAULTS:
            self._show_health()

    def clear(self, fault: Fault) -> None:
        self.faults.discard(fault)
        self._hold()
        if fault in HMS_FAULTS:
            kept = self._with_fault_hms([])
            ours = {Fault.HMS: reports.WARNINGS, Fault.HMS_SERIOUS: (reports.SERIOUS,)}[fault]
            gone = [reports.hms_entry(*w) for w in ours]
            hms = [h for h in self.report["print"]["hms"] if h not in gone or h in kept]
            self.update({"print": {"hms": hms}})
        elif fault is Fault.RUNOUT and self.report["print"]["gcode_state"] == "PAUSE":
            self.set_state("RUNNING")
        elif fault is Fault.FAIL_PRINT and self.report["print"]["gcode_state"] == "FAILED":
            self.set_state("IDLE")
        elif fault is Fault.PLATE_WAITING and self.report["print"]["gcode_state"] in (
                "FINISH", "FAILED"):
            self.set_state("IDLE")   # the plate is cleared
        elif fault in HEALTH_FAULTS:
            self._show_health()

    # -- sending --------------------------------------------------------------------------

    def _next_sequence(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    def _publish(self, doc: dict[str, Any] | bytes, to: Session | None = None) -> None:
        if not isinstance(doc, bytes) and Fault.GARBAGE_AFTER_FIRST in self.faults:
            if self.good_sent:
                doc = self.rng.choice(reports.GARBAGE_TEXT)
            elif "print" in doc:   # the one good report; answers before it pass
                self.good_sent = True
        payload = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        packet = mqtt.publish(self.topic_report, payload)
        for session in [to] if to is not None else list(self.sessions):
            if session.subscribed:
                session.send(packet)

    def full_message(self) -> dict[str, Any]:
        doc = self.report["print"]
        doc["sequence_id"] = self._next_sequence()
        doc["command"], doc["msg"] = "push_status", 0
        return self.report

    def push_full(self) -> None:
        """Send the full report to every subscriber, as the answer to a pushall does."""
        self.pending = {}
        self._publish(self.full_message())

    def flush(self) -> None:
        """Send what a printer of this class sends now: the full report (X1 class) or the
        pending delta (P1/A1). Every second from the fleet; at once after update()."""
        if Fault.SILENT in self.faults or not self._listening():
            self.pending = {}
            return
        if self.model.full_reports:
            self._publish(self.full_message())
        elif self.pending:
            delta = self.pending
            delta.setdefault("print", {})
            delta["print"].update(command="push_status", msg=1, sequence_id=self._next_sequence())
            self.report["print"]["sequence_id"] = delta["print"]["sequence_id"]
            self._publish(delta)
        self.pending = {}
        if Fault.GARBAGE_TEXT in self.faults:
            self._publish(self.rng.choice(reports.GARBAGE_TEXT))
        if Fault.GARBAGE_NON_OBJECT in self.faults:
            self._publish(self.rng.choice(reports.GARBAGE_NON_OBJECT))

    def _listening(self) -> bool:
        return any(s.subscribed for s in self.sessions)

    def handle_request(self, payload: bytes, session: Session) -> None:
        """A PUBLISH on the request topic: pushall, get_version, get_history, or a command."""
        try:
            doc = json.loads(payload)
        except ValueError:
            return  # a printer ignores what it cannot parse
        if not isinstance(doc, dict):
            return
        self.requests.append(doc)
        if Fault.SILENT in self.faults:
            return
        for key, body in doc.items():
            if not isinstance(body, dict):
                continue
            command = body.get("command")
            if key == "pushing" and command == "pushall":
                # the answer goes out on the report topic, to every subscriber
                self.push_full()
            elif key == "info" and command == "get_version":
                units = self.report["print"].get("ams", {}).get("ams", [])
                self._publish(reports.version_report(self.model, self.record.serial,
                                                     units, self._next_sequence()))
            elif key == "upgrade" and command == "get_history":
                self._publish(reports.history_report(self._next_sequence()))
            elif key == "print" and command == "stop":
                self._echo(key, body)
                self.cancel()
            elif key == "print" and command in ("pause", "resume"):
                target = {"pause": "PAUSE", "resume": "RUNNING"}[command]
                self._echo(key, body)
                self.set_state(target)
            elif key == "system" and "led_mode" in body:
                mode, node = body["led_mode"], body.get("led_node", "chamber_light")
                lights = [dict(light, mode=mode) if light["node"] == node else light
                          for light in self.report["print"]["lights_report"]]
                self._echo(key, body)
                self.update({"print": {"lights_report": lights}})
            elif command is not None:
                self._echo(key, body)  # accepted, as a printer would

    def _echo(self, key: str, body: dict[str, Any]) -> None:
        answer = dict(body, result="success", reason="")
        answer.setdefault("sequence_id", self._next_sequence())
        self._publish({key: answer})

    # -- sessions -------------------------------------------------------------------------

    def drop_sessions(self) -> None:
        for session in list(self.sessions):
            session.drop()
