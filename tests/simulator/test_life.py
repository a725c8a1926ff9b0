"""A printer's life: consistent fields per state, jobs that run and end."""

from __future__ import annotations

import random

import pytest

from exporter.simulator import reports
from exporter.simulator.life import STATES, Life, state_fields
from exporter.simulator.models import MODELS

pytestmark = pytest.mark.tier("unit")


def run(model_code: str, seed: int, fail: bool = False, steps: int = 20000,
        dt: float = 5.0) -> tuple[list[str], dict]:
    model = MODELS[model_code]
    rng = random.Random(seed)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    states = []
    for _ in range(steps):
        reports.merge(report["print"], life.step(report, dt, fail))
        doc = report["print"]
        if not states or states[-1] != doc["gcode_state"]:
            states.append(doc["gcode_state"])
        check_consistent(model_code, doc)
    return states, report


def check_consistent(model_code: str, doc: dict) -> None:
    state = doc["gcode_state"]
    if state == "RUNNING":
        assert doc["stg_cur"] == 0 and doc["mc_print_stage"] == "2"
        assert 0 <= doc["mc_percent"] <= 99
        assert 1 <= doc["layer_num"] <= doc["total_layer_num"]
        assert doc["nozzle_target_temper"] > 0
    elif state == "PREPARE":
        assert doc["stg_cur"] in reports.PREPARE_STAGES
    elif state == "PAUSE":
        assert doc["stg_cur"] in (reports.STAGE_FILAMENT_RUNOUT, reports.STAGE_PAUSED_USER)
    elif state == "FINISH":
        assert doc["mc_percent"] == 100 and doc["mc_remaining_time"] == 0
        assert doc["layer_num"] == doc["total_layer_num"]
    elif state == "FAILED":
        assert doc["print_error"] != 0 and doc["hms"]
    if state in ("FINISH", "FAILED", "IDLE"):
        assert doc["nozzle_target_temper"] == 0


def test_jobs_run_through_their_states() -> None:
    states, report = run("P1S", seed=11)
    assert {"PREPARE", "RUNNING", "FINISH"} <= set(states)
    for a, b in zip(states, states[1:], strict=False):
        assert (a, b) in {("IDLE", "PREPARE"), ("PREPARE", "RUNNING"), ("RUNNING", "FINISH"),
                          ("RUNNING", "FAILED"), ("RUNNING", "PAUSE"), ("PAUSE", "RUNNING"),
                          ("FINISH", "PREPARE"), ("FAILED", "PREPARE"), ("FINISH", "IDLE"),
                          ("FAILED", "IDLE")}, (a, b)


def test_fail_print_fault_fails_every_job() -> None:
    states, _ = run("X1C", seed=3, fail=True, steps=6000)
    assert "FAILED" in states and "FINISH" not in states


def test_temperatures_head_to_target_while_running() -> None:
    model = MODELS["X1C"]
    rng = random.Random(2)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    reports.merge(report["print"], life.enter("RUNNING", progress=0.1))
    life.job.fail_at = life.job.runout_at = None
    for _ in range(120):
        reports.merge(report["print"], life.step(report, 1.0, False))
    doc = report["print"]
    assert abs(doc["nozzle_temper"] - doc["nozzle_target_temper"]) <= 2
    before = doc["mc_remaining_time"]
    reports.merge(report["print"], life.step(report, 600.0, False))
    assert report["print"]["mc_remaining_time"] < before


def test_spread_start_covers_the_states() -> None:
    seen = set()
    for seed in range(200):
        model = MODELS["P1P"]
        rng = random.Random(seed)
        report = reports.full_report(model, rng)
        reports.merge(report["print"], Life(model, rng).spread(False))
        check_consistent("P1P", report["print"])
        seen.add(report["print"]["gcode_state"])
    assert seen == set(STATES)


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown gcode_state"):
        state_fields(MODELS["A1"], "PRINTING", None, random.Random(1))


def test_held_states_wait_for_a_hand() -> None:
    model = MODELS["P1S"]
    rng = random.Random(4)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    life.hold = frozenset({"PAUSE"})
    reports.merge(report["print"], life.run_out())
    for _ in range(2000):   # hours of simulated time
        reports.merge(report["print"], life.step(report, 5.0, False))
    doc = report["print"]
    assert (doc["gcode_state"], doc["stg_cur"]) == ("PAUSE", reports.STAGE_FILAMENT_RUNOUT)
    life.hold = frozenset()
    states = set()
    for _ in range(2000):
        reports.merge(report["print"], life.step(report, 5.0, False))
        states.add(report["print"]["gcode_state"])
    assert "RUNNING" in states   # released: the job goes on


def test_a_held_failed_job_stays_failed() -> None:
    model = MODELS["X1C"]
    rng = random.Random(5)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    life.hold = frozenset({"FAILED"})
    reports.merge(report["print"], life.spread(True))
    for _ in range(2000):
        reports.merge(report["print"], life.step(report, 5.0, True))
    assert report["print"]["gcode_state"] == "FAILED"


def _life(model_code: str = "X1C", seed: int = 5) -> tuple[Life, dict]:
    model = MODELS[model_code]
    rng = random.Random(seed)
    return Life(model, rng), reports.full_report(model, rng)


def _step(life: Life, report: dict, dt: float = 5.0) -> str:
    reports.merge(report["print"], life.step(report, dt, False))
    return report["print"]["gcode_state"]


def test_a_starting_job_echoes_its_project_file_command_once() -> None:
    life, report = _life()
    fields = life.enter("PREPARE")
    echo = life.take_echo("42")
    assert echo is not None and life.take_echo("43") is None
    command = echo["print"]
    job = life.job
    assert job is not None and command["command"] == "project_file"
    assert command["param"] == f"Metadata/plate_{job.plate}.gcode"
    assert command["subtask_name"] == job.name == fields["subtask_name"]
    assert (command["subtask_id"], command["task_id"]) == (fields["subtask_id"],
                                                          fields["task_id"])
    assert command["ams_mapping"] == [job.plate - 1] and command["use_ams"] is True


def test_lan_jobs_repeat_their_identity_cloud_jobs_do_not() -> None:
    life, _ = _life()
    identities = {"lan": [], "cloud": []}
    for _ in range(40):
        fields = life.enter("PREPARE")
        assert life.job is not None
        kind = "lan" if life.job.lan else "cloud"
        identities[kind].append((fields["task_id"], fields["subtask_id"], fields["gcode_file"]))
    assert identities["lan"] and identities["cloud"]
    assert all(t == "0" == s and f.startswith("/data/Metadata/plate_")
               for t, s, f in identities["lan"])
    assert len(set(identities["lan"])) < len(identities["lan"])      # repeats
    assert len(set(identities["cloud"])) == len(identities["cloud"])


@pytest.mark.parametrize("to_idle", [False, True])
def test_a_cancel_in_either_firmware_shape(to_idle: bool) -> None:
    life, report = _life()
    life.cancel_to_idle = to_idle
    reports.merge(report["print"], life.enter("PREPARE"))
    reports.merge(report["print"], life.enter("RUNNING", progress=0.4))
    assert report["print"]["mc_percent"] == 40
    reports.merge(report["print"], life.cancel())
    doc = report["print"]
    if to_idle:
        assert doc["gcode_state"] == "IDLE" and doc["print_error"] == 0
    else:
        assert doc["gcode_state"] == "FAILED" and doc["print_error"] == 0x0300400C
        assert doc["mc_percent"] == 0 and doc["layer_num"] == 0   # reset, as firmware does
    assert life.ended == {"cancelled": 1}
    assert life.cancel() == {} and life.ended == {"cancelled": 1}   # nothing to cancel


def test_a_flapping_finish_ends_the_job_once() -> None:
    life, report = _life()
    life.flapping = True
    reports.merge(report["print"], life.enter("RUNNING", progress=0.99))
    assert life.job is not None
    life.job.fail_at = life.job.cancel_at = life.job.runout_at = None
    states = [report["print"]["gcode_state"]]
    for _ in range(8):
        state = _step(life, report, dt=600.0)
        if state != states[-1]:
            states.append(state)
    assert states[:6] == ["RUNNING", "FINISH", "RUNNING", "FINISH", "RUNNING", "FINISH"]
    assert life.ended == {"finished": 1}


def test_a_waiting_plate_stays_until_cleared() -> None:
    life, report = _life()
    life.hold = frozenset({"FINISH"})
    reports.merge(report["print"], life.enter("RUNNING", progress=0.5))
    reports.merge(report["print"], life.enter("FINISH"))
    for _ in range(500):
        assert _step(life, report, dt=60.0) == "FINISH"


def test_every_end_is_in_the_ledger_once() -> None:
    model = MODELS["P1S"]
    rng = random.Random(21)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    counted = {"finished": 0, "failed": 0, "cancelled": 0}
    state = report["print"]["gcode_state"]
    for _ in range(30000):
        reports.merge(report["print"], life.step(report, 30.0, False))
        new = report["print"]["gcode_state"]
        if state in ("PREPARE", "RUNNING", "PAUSE") and new != state:
            if new == "FINISH":
                counted["finished"] += 1
            elif new == "FAILED":
                cancelled = report["print"]["print_error"] == 0x0300400C
                counted["cancelled" if cancelled else "failed"] += 1
            elif new == "IDLE":
                counted["cancelled"] += 1
        state = new
    assert all(counted.values())   # a long life sees every ending
    assert life.ended == counted
