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
