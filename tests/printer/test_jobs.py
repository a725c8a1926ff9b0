"""jobs.py: a printer's jobs from its reports, without a network."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.jobs import (
    CANCELLED_ERROR,
    JOB_RESULTS,
    UNKNOWN_RESULT,
    JobTracker,
    job_report,
)
from exporter.printer.project_file import ProjectFile, read_project_file

pytestmark = pytest.mark.tier("unit")

T0 = 1_765_000_000.0


class Printer:
    """Feeds a JobTracker as a session would: merged reports at a clock the test moves."""

    def __init__(self, **fields: Any) -> None:
        self.tracker = JobTracker()
        self.report: dict[str, Any] = {"gcode_state": "IDLE", "mc_percent": 0, "layer_num": 0,
                                       "gcode_file": "", "subtask_id": "0", "task_id": "0",
                                       "print_error": 0, **fields}
        self.now = T0
        self.mono = 1000.0

    def send(self, advance: float = 10.0, echo: ProjectFile | None = None,
             **fields: Any) -> bool:
        self.now += advance
        self.mono += advance
        self.report.update(fields)
        return self.tracker.observe(job_report(self.report), self.now, self.mono, echo)

    def reconnect(self) -> None:
        self.tracker.reconnected()

    def run_job(self, end: str = "FINISH", **fields: Any) -> None:
        self.send(gcode_state="PREPARE", **fields)
        self.send(gcode_state="RUNNING", mc_percent=10, layer_num=2)
        self.send(mc_percent=60, layer_num=30)
        self.send(gcode_state=end, mc_percent=100 if end == "FINISH" else 60)

    @property
    def prints(self) -> dict[str, int]:
        return dict(self.tracker.jobs.prints)


def echo(name: str = "cube", plate: int = 1) -> ProjectFile:
    parsed = read_project_file({"command": "project_file", "subtask_name": name,
                                "param": f"Metadata/plate_{plate}.gcode",
                                "url": "ftp://cube.gcode.3mf", "ams_mapping": [0, 1, -1],
                                "use_ams": True})
    assert parsed is not None
    return parsed


def test_a_job_seen_from_start_to_finish() -> None:
    printer = Printer()
    printer.send()
    assert printer.tracker.jobs.current is None
    printer.send(gcode_state="PREPARE", gcode_file="cube.gcode.3mf", subtask_name="cube")
    job = printer.tracker.jobs.current
    assert job is not None and job.number == 1 and job.seen_start
    assert job.started == printer.now and job.gcode_file == "cube.gcode.3mf"
    assert job.progress is None   # preparing: not what the last job left in the report
    printer.send(gcode_state="RUNNING", mc_percent=50, layer_num=20)
    printer.send(gcode_state="FINISH", mc_percent=100, layer_num=40)
    jobs = printer.tracker.jobs
    assert jobs.current is None and jobs.last_ended is not None
    assert jobs.last_ended.result == "finished" and jobs.last_ended.job.number == 1
    assert jobs.last_ended.duration == 20.0 and jobs.last_ended.ended == printer.now
    assert jobs.last_ended.job.progress == 1.0 and jobs.last_ended.job.layer == 40
    assert jobs.prints == {"finished": 1} and jobs.print_seconds == {"finished": 20.0}


def test_each_ending_has_its_result() -> None:
    printer = Printer()
    printer.send()
    printer.run_job("FINISH")
    printer.run_job("FAILED", print_error=0x0300800A)
    printer.send(print_error=0)
    printer.run_job("FAILED")
    printer.report["print_error"] = 0
    # a user's cancel: FAILED with 0x0300400C, progress and layer reset to 0
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="RUNNING", mc_percent=40, layer_num=12)
    printer.send(gcode_state="FAILED", print_error=CANCELLED_ERROR, mc_percent=0, layer_num=0)
    ended = printer.tracker.jobs.last_ended
    assert ended is not None and ended.result == "cancelled"
    assert ended.job.progress == 0.4 and ended.job.layer == 12   # kept over the reset
    assert ended.print_error == CANCELLED_ERROR
    printer.send(print_error=0)
    # firmware that aborts back to IDLE, from RUNNING, PAUSE and PREPARE
    for last in ("RUNNING", "PAUSE", "PREPARE"):
        printer.send(gcode_state="PREPARE")
        printer.send(gcode_state=last)
        printer.send(gcode_state="IDLE")
    assert printer.prints == {"finished": 1, "failed": 2, "cancelled": 4}
    assert printer.tracker.jobs.last_ended is not None
    assert printer.tracker.jobs.last_ended.job.number == 7


def test_prepare_to_failed_is_a_refused_job() -> None:
    printer = Printer(gcode_state="FINISH")
    printer.send()
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="FAILED", print_error=0x05008030)
    assert printer.prints == {"failed": 1}


def test_back_to_back_jobs_through_finish_are_two() -> None:
    printer = Printer()
    printer.send()
    printer.run_job()
    printer.run_job()   # FINISH -> PREPARE: no IDLE between
    assert printer.prints == {"finished": 2}


def test_identity_change_while_running_starts_a_new_job() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE", subtask_id="11", gcode_file="a.3mf")
    printer.send(gcode_state="RUNNING", mc_percent=100, layer_num=50)
    # the next job's report, its FINISH and PREPARE never seen
    printer.send(subtask_id="12", gcode_file="b.3mf", mc_percent=3, layer_num=1)
    jobs = printer.tracker.jobs
    assert jobs.current is not None and jobs.current.number == 2
    assert jobs.current.subtask_id == "12" and not jobs.current.seen_start
    assert jobs.prints == {"finished": 1}   # it had reached 100 %
    printer.send(subtask_id="13", mc_percent=20, layer_num=5)
    assert printer.tracker.jobs.last_ended is not None
    assert printer.tracker.jobs.last_ended.result == UNKNOWN_RESULT   # at 20 %: not counted
    assert printer.prints == {"finished": 1}
    assert printer.tracker.jobs.current is not None
    assert printer.tracker.jobs.current.number == 3


def test_running_straight_back_to_prepare_is_the_next_job() -> None:
    # A LAN job's identity repeats ("0" ids, the plate's path): the state tells them apart.
    printer = Printer(gcode_file="/data/Metadata/plate_1.gcode")
    printer.send()
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="RUNNING", mc_percent=99, layer_num=80)   # FINISH never seen
    printer.send(gcode_state="PREPARE", mc_percent=0, layer_num=0)
    printer.send(gcode_state="RUNNING", mc_percent=30, layer_num=9)
    printer.send(gcode_state="PREPARE", mc_percent=0, layer_num=0)     # at 30 %: unknown
    jobs = printer.tracker.jobs
    assert jobs.prints == {"finished": 1} and jobs.current is not None
    assert jobs.current.number == 3 and jobs.current.seen_start
    assert jobs.last_ended is not None and jobs.last_ended.result == UNKNOWN_RESULT


def test_identity_filled_in_while_preparing_is_the_same_job() -> None:
    printer = Printer(gcode_file="old.3mf")
    printer.send()
    printer.send(gcode_state="PREPARE", task_id="0")
    printer.send(gcode_file="new.3mf", task_id="77", subtask_name="new")
    printer.send(gcode_state="RUNNING", mc_percent=5, layer_num=1)
    printer.send(gcode_file="", task_id="0")   # vanishing identity says nothing
    job = printer.tracker.jobs.current
    assert job is not None and job.number == 1
    assert (job.gcode_file, job.task_id, job.subtask_name) == ("new.3mf", "77", "new")


def test_project_file_echo_belongs_to_the_job_it_starts() -> None:
    printer = Printer()
    printer.send()
    printer.send(echo=echo("cube", plate=2), subtask_name="cube")   # echo first, then PREPARE
    printer.send(gcode_state="PREPARE", gcode_file="/data/Metadata/plate_2.gcode")
    job = printer.tracker.jobs.current
    assert job is not None and job.project is not None and job.project.plate == 2
    assert job.project.ams_mapping == (0, 1, -1) and job.project.use_ams is True
    # echo after PREPARE: still this job's
    printer.send(gcode_state="FINISH")
    printer.send(gcode_state="PREPARE")
    printer.send(echo=echo("sphere", plate=3))
    job = printer.tracker.jobs.current
    assert job is not None and job.number == 2 and job.project is not None
    assert job.project.plate == 3 and job.subtask_name == "sphere"
    # the same echo resent changes nothing
    assert not printer.send(0.0, echo=echo("sphere", plate=3))


def test_an_echo_during_a_job_that_made_progress_is_the_next_job() -> None:
    printer = Printer()
    printer.send()
    printer.run_job(end="RUNNING")
    printer.send(mc_percent=100)   # at 100 %, its end never seen
    printer.send(echo=echo("next"))
    jobs = printer.tracker.jobs
    assert jobs.current is not None and jobs.current.number == 2 and jobs.current.seen_start
    assert jobs.current.project is not None and jobs.current.subtask_name == "next"
    assert jobs.prints == {"finished": 1}


def test_a_stale_echo_is_not_the_next_jobs() -> None:
    printer = Printer()
    printer.send()
    printer.send(echo=echo("refused"))
    printer.send(advance=3600)
    printer.send(gcode_state="PREPARE")
    job = printer.tracker.jobs.current
    assert job is not None and job.project is None


def test_first_report_terminal_is_not_an_end() -> None:
    for state in ("FINISH", "FAILED", "IDLE"):
        printer = Printer(gcode_state=state, mc_percent=100)
        printer.send()
        printer.send()
        assert printer.prints == {} and printer.tracker.jobs.last_ended is None


def test_joining_a_running_job_takes_the_printers_start_time() -> None:
    printer = Printer(gcode_state="RUNNING", mc_percent=30, layer_num=9,
                      gcode_start_time=str(int(T0 - 3600)))
    printer.send()
    job = printer.tracker.jobs.current
    assert job is not None and not job.seen_start and job.started == T0 - 3600
    assert job.progress == 0.3
    printer.send(gcode_state="FINISH", mc_percent=100)
    ended = printer.tracker.jobs.last_ended
    assert ended is not None and ended.duration == 3600 + 20


def test_implausible_start_times_are_not_used() -> None:
    for start in (0, -5, T0 + 86400, T0 - 400 * 86400, "soon", 1e300, None):
        printer = Printer(gcode_state="RUNNING", gcode_start_time=start)
        printer.send()
        job = printer.tracker.jobs.current
        assert job is not None and job.started == printer.now, start
        printer.send(gcode_state="FINISH")
        ended = printer.tracker.jobs.last_ended
        assert ended is not None and 0 <= ended.duration == 10.0
    printer = Printer(gcode_state="RUNNING", gcode_start_time=(T0 - 60) * 1000)   # ms
    printer.send()
    job = printer.tracker.jobs.current
    assert job is not None and job.started == T0 - 60


def test_reconnect_mid_job_continues_it() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE", subtask_id="5")
    printer.send(gcode_state="RUNNING", mc_percent=30, layer_num=3)
    printer.reconnect()
    printer.send(advance=600, mc_percent=70, layer_num=7)
    job = printer.tracker.jobs.current
    assert job is not None and job.number == 1 and job.seen_start
    printer.send(gcode_state="FINISH", mc_percent=100)
    assert printer.prints == {"finished": 1}


def test_reconnect_after_the_end_counts_it_once() -> None:
    printer = Printer()
    printer.send()
    printer.run_job()
    printer.reconnect()
    printer.send(advance=60)
    printer.send()
    assert printer.prints == {"finished": 1}
    # the job ended while the session was away: counted once, when it is next seen
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="RUNNING", mc_percent=20, layer_num=2)
    printer.reconnect()
    printer.send(advance=900, gcode_state="FINISH", mc_percent=100)
    printer.reconnect()
    printer.send(advance=60)
    assert printer.prints == {"finished": 2}


def test_reconnect_to_idle_mid_job_does_not_guess() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="RUNNING", mc_percent=20, layer_num=2)
    printer.reconnect()
    printer.send(gcode_state="IDLE", mc_percent=0, layer_num=0)
    assert printer.prints == {}
    assert printer.tracker.jobs.last_ended is not None
    assert printer.tracker.jobs.last_ended.result == UNKNOWN_RESULT


def test_a_new_job_started_while_away_is_joined() -> None:
    printer = Printer()
    printer.send()
    printer.run_job()
    printer.reconnect()
    printer.send(advance=3600, gcode_state="RUNNING", mc_percent=10, layer_num=3,
                 gcode_start_time=T0 + 3000)
    job = printer.tracker.jobs.current
    assert job is not None and job.number == 2 and not job.seen_start
    assert job.started == T0 + 3000


def test_a_flapping_state_ends_a_job_once() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE", subtask_id="9", gcode_file="a.3mf")
    printer.send(gcode_state="RUNNING", mc_percent=99, layer_num=99)
    for _ in range(5):
        printer.send(gcode_state="FINISH", mc_percent=100)
        printer.send(gcode_state="RUNNING")
    printer.send(gcode_state="FINISH")
    assert printer.prints == {"finished": 1}
    assert printer.tracker.jobs.last_ended is not None
    assert printer.tracker.jobs.last_ended.job.number == 1
    # a real next job with the same identity (through PREPARE) is counted
    printer.run_job()
    assert printer.prints == {"finished": 2}


def test_a_flap_at_the_first_report_is_not_counted() -> None:
    printer = Printer(gcode_state="FINISH", mc_percent=100)
    printer.send()
    printer.send(gcode_state="RUNNING")
    printer.send(gcode_state="FINISH")
    assert printer.prints == {}


def test_running_from_finish_with_progress_reset_is_a_new_job() -> None:
    # PREPARE missed: FINISH at 100 %, then RUNNING at 2 %
    printer = Printer()
    printer.send()
    printer.run_job()
    printer.send(gcode_state="RUNNING", mc_percent=2, layer_num=1)
    printer.send(gcode_state="FINISH", mc_percent=100)
    assert printer.prints == {"finished": 2}


def test_a_jump_to_another_jobs_finish_is_not_counted_twice() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE", subtask_id="1")
    printer.send(gcode_state="RUNNING", mc_percent=40, layer_num=4)
    printer.send(gcode_state="FINISH", subtask_id="2", mc_percent=100)
    printer.send()
    assert printer.prints == {}
    assert printer.tracker.jobs.current is None


def test_unknown_and_missing_states_change_nothing() -> None:
    printer = Printer()
    printer.send()
    printer.send(gcode_state="PREPARE")
    printer.send(gcode_state="RUNNING", mc_percent=10, layer_num=1)
    for junk in ("SLICING", "", None, 7, ["RUNNING"]):
        assert not printer.send(gcode_state=junk)
    printer.send(gcode_state="running")   # case and spaces as sanitised elsewhere
    printer.send(gcode_state=" FINISH ")
    assert printer.prints == {"finished": 1}


def test_the_picture_is_the_same_object_until_it_changes() -> None:
    printer = Printer()
    printer.send()
    first = printer.tracker.jobs
    assert not printer.send()
    assert printer.tracker.jobs is first
    assert printer.send(gcode_state="PREPARE")
    assert printer.tracker.jobs is not first


def test_project_file_echo_is_read_defensively() -> None:
    assert read_project_file({"command": "push_status"}) is None
    parsed = read_project_file({
        "command": "project_file", "param": "Metadata/plate_12.gcode",
        "url": "https://user:secret@cloud.example/f/a.3mf?Signature=abc#x",
        "ams_mapping": [0, 1.0, 4], "use_ams": "yes", "subtask_name": "x" * 1000})
    assert parsed is not None
    assert parsed.plate == 12 and parsed.url == "https://cloud.example/f/a.3mf"
    assert "secret" not in repr(parsed) and "Signature" not in repr(parsed)
    assert parsed.ams_mapping == (0, 1, 4) and parsed.use_ams is None
    assert len(parsed.subtask_name) == 256
    for mapping in ([True], [1.5], ["0"], [2 ** 40], list(range(65)), "0,1", [float("nan")]):
        bad = read_project_file({"command": "project_file", "ams_mapping": mapping})
        assert bad is not None and bad.ams_mapping == ()
    odd = read_project_file({"command": "project_file", "url": "http://[::1", "param": 5})
    assert odd is not None and odd.url == "" and odd.param == "" and odd.plate is None


STATES = st.sampled_from(["IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED",
                          "UNKNOWN", "", None])
FIELD_VALUES = st.one_of(st.none(), st.integers(-5, 2 ** 70), st.floats(allow_nan=True),
                         st.text(max_size=5), st.sampled_from(["0", "1", "2", "a.3mf"]))
STEP = st.tuples(
    STATES,
    st.dictionaries(st.sampled_from(["subtask_id", "task_id", "gcode_file", "mc_percent",
                                     "layer_num", "print_error", "gcode_start_time"]),
                    FIELD_VALUES, max_size=3),
    st.floats(-100, 10_000),   # clock steps, wall clock going backwards too
    st.booleans(),             # reconnect before it
    st.booleans(),             # an echo with it
)


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_any_sequence_never_raises_never_goes_down_and_stays_bounded(steps: list) -> None:
    printer = Printer()
    before_prints: dict[str, int] = {}
    before_seconds: dict[str, float] = {}
    number = 0
    for state, fields, advance, reconnect, with_echo in steps:
        if reconnect:
            printer.reconnect()
        printer.now += advance
        printer.mono += abs(advance)
        printer.report.update(fields, gcode_state=state)
        printer.tracker.observe(job_report(printer.report), printer.now, printer.mono,
                                echo() if with_echo else None)
        jobs = printer.tracker.jobs
        assert set(jobs.prints) <= set(JOB_RESULTS)
        for result in JOB_RESULTS:
            assert jobs.prints.get(result, 0) >= before_prints.get(result, 0)
            assert jobs.print_seconds.get(result, 0.0) >= before_seconds.get(result, 0.0) >= 0
        ended = jobs.last_ended
        if ended is not None:
            assert ended.duration >= 0 and ended.job.number >= number
            number = ended.job.number
        if jobs.current is not None and jobs.current.progress is not None:
            assert 0 <= jobs.current.progress <= 1
        before_prints, before_seconds = dict(jobs.prints), dict(jobs.print_seconds)
    # bounded: the tracker keeps a fixed set of attributes, no list grows
    tracker = printer.tracker
    assert all(not isinstance(getattr(tracker, name), list) for name in tracker.__slots__)
