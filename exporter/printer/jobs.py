"""Pure: a printer's jobs, from the states and identities it reports.

How real printers run a job (docs/real-printers.md): IDLE/FINISH/FAILED -> PREPARE ->
RUNNING (PAUSE between) -> FINISH or FAILED, which stays until the next job starts. The
rules, in the order JobTracker applies them:

- A job starts when the printer goes from a resting state (IDLE, FINISH, FAILED) to an
  active one (PREPARE, RUNNING, PAUSE), or when its identity changes while active: a
  `subtask_id`, `task_id` or `gcode_file` different from the job's (empty and "0" ids say
  nothing: LAN prints often send them), or a `project_file` echo once the job has made
  progress. Before the job has made progress its identity is still being filled in (and
  an echo is the job's own), so changes then are not a new job.
- A job ends once, with one result: `finished` (FINISH), `cancelled` (FAILED with
  print_error 0x0300400C, or RUNNING/PAUSE/PREPARE straight back to IDLE), `failed` (FAILED
  otherwise). A job replaced by another before its end was seen (another identity, or
  RUNNING straight back to PREPARE) ends `unknown` (not counted), unless it had reached
  99 %: then it finished.
- The first report after the exporter starts or a session reconnects decides nothing by
  its state alone: a resting state with no job in hand is not an end; an active state
  joins the job (its start from the printer's `gcode_start_time` when plausible); a job in
  hand continues if its identity is the same, and ends by what the report says if it
  rests (IDLE then says nothing of how: `unknown`).
- FINISH/FAILED straight back to RUNNING/PAUSE with the same identity and no echo, and
  progress not more than 5 % behind the terminal report's, is the state flapping: the
  job resumes and its next end is not counted again (a real next job passes through
  PREPARE).
- Progress and layer keep their highest value of the job: firmware resets both to 0 on a
  cancel, and a job's end should say how far it got.

Memory is bounded: the current job, the last ended one and fixed counters; no history.
Times: wall clock for what people read (start, end), a monotonic clock for durations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bambulabs_api.states_info import GcodeState

from exporter.printer.project_file import ProjectFile
from exporter.printer.sanitize import finite_float
from exporter.text import bounded_text

JOB_RESULTS: tuple[str, ...] = ("finished", "failed", "cancelled")
UNKNOWN_RESULT = "unknown"   # an end not seen (the job was replaced): counted nowhere
CANCELLED_ERROR = 0x0300400C   # print_error of a job the user cancelled
ACTIVE_STATES = frozenset({"PREPARE", "RUNNING", "PAUSE"})
RESTING_STATES = frozenset({"IDLE", "FINISH", "FAILED"})
# An echo seen while no job is active belongs to a job starting within this many seconds.
ECHO_WINDOW = 300.0
# A flap back to RUNNING may show progress a little behind the FINISH (99 % against 100):
# only further behind is it a new job whose PREPARE was missed.
FLAP_PROGRESS_SLACK = 0.05
# A job replaced before its end was seen finished if it had come this far.
UNSEEN_FINISHED = 0.99
# gcode_start_time further in the future than this, or older than MAX_JOB_AGE, is not a
# start time (clocks differ by seconds; no print runs for a month).
START_TIME_SLACK = 60.0
MAX_JOB_AGE = 30 * 86400.0
# The report fields the jobs are read from: a report changing none of them (and carrying
# no echo) cannot change a job.
JOB_FIELDS = frozenset({"gcode_state", "print_error", "subtask_id", "task_id", "gcode_file",
                        "subtask_name", "mc_percent", "layer_num", "gcode_start_time"})


@dataclass(frozen=True, slots=True)
class JobReport:
    """The fields of a merged report that jobs are read from, typed."""

    state: str                 # a GcodeState value (UNKNOWN when missing or unknown)
    print_error: int
    subtask_id: str
    task_id: str
    gcode_file: str
    subtask_name: str
    progress: float | None     # 0..1
    layer: int | None
    start_time: float | None   # gcode_start_time as unix seconds; None when absent or 0


def job_report(printed: Mapping[str, Any]) -> JobReport:
    """A merged report's `print` object -> JobReport (every field read defensively)."""
    state = printed.get("gcode_state")
    percent = finite_float(printed.get("mc_percent"))
    layer = finite_float(printed.get("layer_num"))
    start = finite_float(printed.get("gcode_start_time"))
    error = finite_float(printed.get("print_error"))
    return JobReport(
        state=GcodeState(state.strip().upper()).value if isinstance(state, str)
        else GcodeState.UNKNOWN.value,
        print_error=int(error) & 0xFFFFFFFF if error is not None and error > 0 else 0,
        subtask_id=_ident(printed.get("subtask_id")),
        task_id=_ident(printed.get("task_id")),
        gcode_file=_text(printed.get("gcode_file")),
        subtask_name=_text(printed.get("subtask_name")),
        progress=None if percent is None else min(max(percent / 100.0, 0.0), 1.0),
        layer=int(layer) if layer is not None and layer >= 0 and layer.is_integer() else None,
        start_time=None if start is None or start <= 0
        else start / 1000.0 if start > 1e12 else start,   # some firmware sends ms
    )


@dataclass(frozen=True, slots=True)
class Job:
    """A job as far as it has been seen. Its fields are the latest the printer reported,
    except progress and layer (the highest: a cancel resets them to 0)."""

    number: int                # 1, 2, ... per printer session: tells jobs apart
    started: float             # unix time it started (seen, or the printer's start time)
    seen_start: bool           # False: it was already running when the exporter joined
    subtask_name: str
    gcode_file: str
    subtask_id: str            # "" when the printer says none ("0" or empty)
    task_id: str
    project: ProjectFile | None   # the project_file echo, when seen at its start
    progress: float | None     # highest seen, 0..1
    layer: int | None          # highest seen


@dataclass(frozen=True, slots=True)
class EndedJob:
    """The last job that ended: the job as it was at its end, and how it ended."""

    job: Job
    result: str                # one of JOB_RESULTS, or UNKNOWN_RESULT
    ended: float               # unix time its end was seen
    duration: float            # seconds from its start to its end, >= 0
    print_error: int           # the printer's print_error at the end (0 = none)


@dataclass(frozen=True, slots=True)
class Jobs:
    """What one printer's session knows of its jobs, for consumers of PrinterStatus.

    `current` is the job active now (None while the printer rests). `last_ended` is the
    last job that ended: a consumer tells a new end by `last_ended.job.number` differing
    from the one it saw last (numbers grow by one per job, per session; a new session,
    after the printer's row changed, starts again from 1). There is no history: what
    ended before the last one is only in the counters.

    `prints` and `print_seconds` count ends and their durations by result (JOB_RESULTS
    only); they never go down while the session lives."""

    current: Job | None = None
    last_ended: EndedJob | None = None
    prints: Mapping[str, int] = dataclasses.field(default_factory=dict)
    print_seconds: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclass(slots=True)
class _Rest:
    """What the printer said when it came to rest, to tell a flap from a new job."""

    report: JobReport
    job: Job | None        # the job that ended there, None if none was in hand


class JobTracker:
    """One printer's jobs, fed every report that may change them. Not thread-safe: the
    session calls it under its lock."""

    __slots__ = ("_number", "_current", "_counted", "_start_mono", "_last_ended", "_state",
                 "_rest", "_echo", "_resync", "_view")

    def __init__(self) -> None:
        self._number = 0
        self._current: Job | None = None
        self._counted = True          # False: a resumed job whose end was counted already
        self._start_mono = 0.0        # monotonic time of the current job's start
        self._last_ended: EndedJob | None = None
        self._state: str | None = None   # the last active or resting state seen
        self._rest: _Rest | None = None
        self._echo: tuple[ProjectFile, float] | None = None   # (echo, monotonic time)
        self._resync = True
        self._view = Jobs()

    def reconnected(self) -> None:
        """A session (re)connected: the next report may be about a different moment."""
        self._resync = True

    @property
    def jobs(self) -> Jobs:
        """The current picture (the same object until something changes)."""
        return self._view

    def observe(self, report: JobReport, wall: float, mono: float,
                echo: ProjectFile | None = None) -> bool:
        """Take one report (the merged report after a message) and, if the message was
        one, the project_file echo it carried. Returns whether `jobs` changed."""
        before = self._view_key()
        if echo is not None:
            self._take_echo(echo, report, wall, mono)
        state = report.state
        if state in ACTIVE_STATES:
            self._active(report, wall, mono)
        elif state in RESTING_STATES:
            self._resting(report, wall, mono)
        if state in ACTIVE_STATES or state in RESTING_STATES:
            self._state = state
            self._resync = False
        if self._view_key() == before:
            return False
        self._view = Jobs(self._current, self._last_ended, self._view.prints,
                          self._view.print_seconds)
        return True

    # ------------------------------------------------------------------ transitions

    def _active(self, report: JobReport, wall: float, mono: float) -> None:
        job = self._current
        # Back to PREPARE after printing, or another job's identity: the next job began
        # and this one's end was missed.
        prepares = report.state == "PREPARE" and self._state in ("RUNNING", "PAUSE")
        if job is not None and _progressed(job) and (prepares or _other_job(job, report)):
            self._end(job, _unseen_result(job), report, wall, mono)
            if prepares and not self._resync:
                self._start(report, wall, mono, seen=True)
                return
            job = None
        if job is not None:
            self._current = _updated(job, report)
            return
        rest = self._rest
        if (rest is not None and self._echo is None and self._state in ("FINISH", "FAILED")
                and report.state != "PREPARE" and _same_job(rest.report, report)
                and not _behind(report.progress, rest.report.progress)):
            self._resume(rest, report, wall, mono)
            return
        seen = not self._resync and self._state in RESTING_STATES
        self._start(report, wall, mono, seen)

    def _resting(self, report: JobReport, wall: float, mono: float) -> None:
        job = self._current
        if job is not None:
            if _progressed(job) and _other_job(job, report):
                result = _unseen_result(job)
            elif report.state == "FINISH":
                result = "finished"
            elif report.state == "FAILED":
                result = "cancelled" if report.print_error == CANCELLED_ERROR else "failed"
            else:   # IDLE: an abort, unless we were away and cannot tell
                result = UNKNOWN_RESULT if self._resync else "cancelled"
            job = _updated(job, report)
            self._end(job, result, report, wall, mono)
            self._rest = _Rest(report, self._last_ended.job if self._last_ended else None)
        elif self._rest is None or self._resync:
            # Joined at rest: a flap back to the job that rested here resumes it.
            rest = self._rest
            same = rest is not None and rest.job is not None and _same_job(rest.report, report)
            self._rest = _Rest(report, rest.job if same and rest is not None else None)
        elif report.progress is not None and _behind(report.progress, self._rest.report.progress):
            # Still resting, progress reset (a cancel's 0 after its FAILED): compare later
            # reports with what the printer says now.
            self._rest = _Rest(report, self._rest.job)

    def _take_echo(self, echo: ProjectFile, report: JobReport, wall: float, mono: float) -> None:
        job = self._current
        if job is None:
            self._echo = (echo, mono)
            return
        if job.project == echo:
            return   # the same echo again (a resent message)
        if not _progressed(job) and job.project is None:
            self._current = dataclasses.replace(job, project=echo,
                                                subtask_name=echo.subtask_name or job.subtask_name)
            return
        # A job that made progress (or already had its echo) gets a second one: the
        # printer started another job and we missed the end of this one.
        self._end(job, _unseen_result(job), report, wall, mono)
        self._echo = (echo, mono)
        self._start(report, wall, mono, seen=True)

    # ------------------------------------------------------------------ steps

    def _start(self, report: JobReport, wall: float, mono: float, seen: bool) -> None:
        started = wall if seen else _plausible_start(report.start_time, wall)
        echo = None
        if self._echo is not None and mono - self._echo[1] <= ECHO_WINDOW:
            echo = self._echo[0]
        self._echo = None
        fresh = seen or report.state == "PREPARE"
        self._number += 1
        self._current = Job(
            number=self._number, started=started, seen_start=seen,
            subtask_name=(echo.subtask_name if echo and echo.subtask_name
                          else report.subtask_name),
            gcode_file=report.gcode_file, subtask_id=report.subtask_id,
            task_id=report.task_id, project=echo,
            # A job seen starting (or preparing) begins at 0 whatever the last job left
            # in the report.
            progress=None if fresh else report.progress,
            layer=None if fresh else report.layer)
        self._counted = True
        self._start_mono = mono - (wall - started)

    def _resume(self, rest: _Rest, report: JobReport, wall: float, mono: float) -> None:
        """A flap back to RUNNING: the job that ended there, not counted again."""
        if rest.job is not None:
            self._current = _updated(rest.job, report)
            ended = self._last_ended
            self._start_mono = mono - (ended.duration if ended is not None else 0.0)
        else:   # it rested before we joined: a job we never count
            self._start(report, wall, mono, seen=False)
        self._counted = False

    def _end(self, job: Job, result: str, report: JobReport, wall: float, mono: float) -> None:
        self._current = None
        if not self._counted:
            return
        duration = max(0.0, mono - self._start_mono)
        self._last_ended = EndedJob(job, result, wall, duration, report.print_error)
        if result in JOB_RESULTS:
            # New mappings, never changed after: every status holding the old ones keeps them.
            view = self._view
            self._view = Jobs(view.current, view.last_ended,
                              {**view.prints, result: view.prints.get(result, 0) + 1},
                              {**view.print_seconds,
                               result: view.print_seconds.get(result, 0.0) + duration})

    def _view_key(self) -> tuple[object, ...]:
        return self._current, self._last_ended


# ---------------------------------------------------------------------- pure helpers

def _ident(value: Any) -> str:
    """subtask_id / task_id: "" for the empty and "0" ids of LAN prints."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, (int, float)):
        number = finite_float(value)
        value = "" if number is None or not number.is_integer() else str(int(number))
    text = _text(value)
    return "" if text in ("", "0") else text


def _text(value: Any) -> str:
    return bounded_text(value.strip()) if isinstance(value, str) else ""


def _progressed(job: Job) -> bool:
    return bool(job.progress) or bool(job.layer)


def _differs(old: str, new: str) -> bool:
    return bool(old) and bool(new) and old != new


def _other_job(job: Job, report: JobReport) -> bool:
    """The report names another job than `job` (an empty field names none)."""
    return (_differs(job.subtask_id, report.subtask_id) or _differs(job.task_id, report.task_id)
            or _differs(job.gcode_file, report.gcode_file))


def _same_job(rest: JobReport, report: JobReport) -> bool:
    return not (_differs(rest.subtask_id, report.subtask_id)
                or _differs(rest.task_id, report.task_id)
                or _differs(rest.gcode_file, report.gcode_file))


def _behind(progress: float | None, than: float | None) -> bool:
    return progress is not None and than is not None and progress < than - FLAP_PROGRESS_SLACK


def _unseen_result(job: Job) -> str:
    return ("finished" if job.progress is not None and job.progress >= UNSEEN_FINISHED
            else UNKNOWN_RESULT)


def _updated(job: Job, report: JobReport) -> Job:
    """The job with what this report adds: identity filled in (an empty field keeps the
    old value), progress and layer at their highest (not while preparing: the report may
    still hold the last job's)."""
    preparing = report.state == "PREPARE"
    progress = job.progress if preparing else _highest(job.progress, report.progress)
    layer = job.layer if preparing else _highest(job.layer, report.layer)
    name = job.subtask_name if job.project is not None and job.project.subtask_name \
        else report.subtask_name or job.subtask_name
    changes = {
        "progress": progress, "layer": layer, "subtask_name": name,
        "gcode_file": report.gcode_file or job.gcode_file,
        "subtask_id": report.subtask_id or job.subtask_id,
        "task_id": report.task_id or job.task_id,
    }
    if all(getattr(job, key) == value for key, value in changes.items()):
        return job
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def _highest(old: Any, new: Any) -> Any:
    if new is None:
        return old
    return new if old is None or new > old else old


def _plausible_start(start: float | None, wall: float) -> float:
    """The printer's start time if it can be one, else now."""
    if start is None or start > wall + START_TIME_SLACK or start < wall - MAX_JOB_AGE:
        return wall
    return min(start, wall)
