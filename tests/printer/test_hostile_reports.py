"""What a broken or hostile printer sends, over TLS MQTT: each
case hurts that printer's own values at worst, is counted, and renders as a valid
exposition. (Issue 10, "Why" 1, 2, 4 and 6.)

"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.inventory.record import PrinterRecord
from exporter.metrics.catalogue import families, printer_samples
from exporter.metrics.exposition import render
from exporter.printer.merge import MAX_AMS_UNITS, MAX_HMS_MESSAGES, MAX_TRAYS_PER_AMS
from exporter.printer.sanitize import MAX_DEPTH, MAX_MESSAGE_BYTES
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.status import PrinterStatus
from exporter.simulator import SimulatedFleet
from exporter.simulator.fleet import PrinterHandle
from exporter.text import LABEL_VALUE_LIMIT
from tests.support.addresses import AddressPool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

FAST = SessionSettings(staleness=10.0, pushall_interval=300.0, connect_timeout=2.0,
                       reconnect_max_delay=1)
HUGE = 10 ** 400   # an integer no float can hold


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    # P1S: deltas only, so what a test sends stays in the picture (an X1 would overwrite
    # it with its next full report); life off: values change only when told.
    fleet = SimulatedFleet(count=8, first_address=addresses.take(8).first, seed=21, life=False,
                           models=["P1S"])
    fleet.start()
    yield fleet
    fleet.stop()


class Opened:
    def __init__(self, fleet: SimulatedFleet, index: int) -> None:
        r = fleet.records[index]
        self.printer: PrinterHandle = fleet.printer(r.serial)
        self.session = PrinterSession(PrinterRecord(r.name, r.ip, r.serial, r.access_code),
                                      FAST)
        self.session.start()
        wait_until(lambda: self.status().up, what=f"{r.name} up")

    def status(self) -> PrinterStatus:
        return self.session.status(time.time())


@pytest.fixture
def opened(fleet: SimulatedFleet) -> Iterator[list[Opened]]:
    sessions: list[Opened] = []
    yield sessions
    for o in sessions:
        o.session.close()


class One:
    def __init__(self, metrics: list) -> None:  # noqa: ANN401 - prometheus families
        self.metrics = metrics

    def collect(self) -> list:
        return self.metrics


def exposition(status: PrinterStatus) -> str:
    """The printer's lines as /metrics would render them (both formats must work)."""
    metrics = families(printer_samples(status))
    render(One(metrics), openmetrics=True)
    return render(One(metrics), openmetrics=False).decode("utf-8")


def test_numbers_too_large_for_a_float_are_left_out(fleet: SimulatedFleet,
                                                    opened: list[Opened]) -> None:
    o = Opened(fleet, 0)
    opened.append(o)
    o.printer.update({"print": {"bed_temper": HUGE, "nozzle_temper": 215.5,
                                "hms": [{"attr": HUGE, "code": 0x00020004},
                                        {"attr": 0x07008200, "code": 0x00020004}],
                                "mc_percent": "NaN", "mc_remaining_time": "inf"}})
    status = wait_until(lambda: (s := o.status()).snapshot is not None
                        and dict(s.snapshot.temperatures).get("nozzle") == 215.5 and s,
                        what="the update merged")
    assert status.up
    temps = dict(status.snapshot.temperatures)
    assert "bed" not in temps                          # no value rather than a wrong one
    assert [m.code for m in status.snapshot.hms] == ["0700_8200_0002_0004"]
    assert status.snapshot.progress is None and status.snapshot.remaining_seconds is None
    temperatures = {sample.labels["sensor"]: sample.value
                    for family in text_string_to_metric_families(exposition(status))
                    for sample in family.samples
                    if sample.name == "bambu_printer_temperature_celsius"}
    assert temperatures["nozzle"] == 215.5 and "bed" not in temperatures


def test_lone_surrogates_are_replaced_not_fatal(fleet: SimulatedFleet,
                                                opened: list[Opened]) -> None:
    o = Opened(fleet, 1)
    opened.append(o)
    o.printer.update({"print": {"subtask_name": "job\ud800one",
                                "vt_tray": {"tray_type": "P\udfffLA", "tray_color": "FF0000FF"},
                                "gcode_file": "\ud83d\udda8.gcode"}})
    status = wait_until(lambda: (s := o.status()).snapshot.job_task.startswith("job") and s,
                        what="the update merged")
    assert status.snapshot.job_task == "job\ufffdone"
    assert status.snapshot.job_file == "\U0001f5a8.gcode"   # a pair is one character
    assert [t.material for t in status.snapshot.trays if t.ams == "external"] == ["P\ufffdLA"]
    text = exposition(status)
    assert 'task="job\ufffdone"' in text


def test_undecodable_messages_are_counted_by_reason(fleet: SimulatedFleet,
                                                    opened: list[Opened]) -> None:
    o = Opened(fleet, 2)
    opened.append(o)
    # Deep where the exporter reads (print.device), short of Python's recursion limit.
    deep_object = b'{"print":{"device":' + b'{"a":' * MAX_DEPTH + b"1" + b"}" * (MAX_DEPTH + 2)
    too_large = json.dumps({"print": {"gcode_file": "x" * MAX_MESSAGE_BYTES}}).encode()
    sent = {
        "json": [b"{not json", b'{"print": {"bed_temper": 1}'],
        "not_object": [b"[1, 2]", b'"text"'],
        "too_deep": [b"[" * 10000 + b"]" * 10000, deep_object],
        "too_large": [too_large],
        "bad_utf8": [b'{"print": {"subtask_name": "\xff\xfe"}}'],
    }
    for payloads in sent.values():
        for payload in payloads:
            o.printer.send_raw(payload)
    expected = {reason: len(payloads) for reason, payloads in sent.items()}
    wait_until(lambda: dict(o.status().message_errors) == expected, timeout=10,
               what=f"message errors {expected}")
    # None of it touched the picture, and the network thread lives on.
    assert o.status().snapshot.job_file != "x" * LABEL_VALUE_LIMIT
    o.printer.update({"print": {"bed_temper": 61.25}})
    wait_until(lambda: dict(o.status().snapshot.temperatures).get("bed") == 61.25,
               what="a report after the garbage")
    counted = {sample.labels["reason"]: sample.value
               for family in text_string_to_metric_families(exposition(o.status()))
               for sample in family.samples
               if sample.name == "bambu_printer_message_errors_total"}
    assert counted == expected


def test_long_text_is_cut_to_the_label_cap_and_counted(fleet: SimulatedFleet,
                                                       opened: list[Opened]) -> None:
    o = Opened(fleet, 3)
    opened.append(o)
    o.printer.update({"print": {"gcode_file": "/data/" + "g" * 100_000,
                                "subtask_name": "t" * (LABEL_VALUE_LIMIT + 1)}})
    status = wait_until(lambda: (s := o.status()).snapshot.job_file.startswith("/data/g") and s,
                        what="the update merged")
    assert len(status.snapshot.job_file) == LABEL_VALUE_LIMIT
    assert len(status.snapshot.job_task) == LABEL_VALUE_LIMIT
    assert status.truncations.get("text") == 2


def test_hms_ams_and_tray_lists_are_capped_and_counted(fleet: SimulatedFleet,
                                                       opened: list[Opened]) -> None:
    o = Opened(fleet, 4)
    opened.append(o)
    hms = [{"attr": 0x07000000 + i, "code": 0x00030001} for i in range(2000)]
    trays = [{"id": str(i), "tray_type": "PLA", "tray_color": "FFFFFFFF", "remain": 50}
             for i in range(20)]
    units = [{"id": str(i), "humidity": "4", "temp": "25.0", "tray": trays} for i in range(40)]
    big = json.dumps({"print": {"hms": hms, "ams": {"ams": units}}}).encode()
    assert len(big) < MAX_MESSAGE_BYTES   # long lists, not a long message
    o.printer.send_raw(big)
    status = wait_until(lambda: (s := o.status()).snapshot is not None
                        and len(s.snapshot.hms) > 1 and s, what="the big lists merged")
    assert len(status.snapshot.hms) == MAX_HMS_MESSAGES
    assert len(status.snapshot.ams) == MAX_AMS_UNITS
    assert len([t for t in status.snapshot.trays if t.ams != "external"]) == \
        MAX_AMS_UNITS * MAX_TRAYS_PER_AMS
    cuts = status.truncations
    assert cuts.get("hms") == 1 and cuts.get("ams") == 1
    assert cuts.get("tray") == MAX_AMS_UNITS

    # New AMS ids in every delta: the picture stays within the cap, each refusal counted.
    for i in range(200):
        o.printer.send_raw(json.dumps({"print": {"ams": {"ams": [
            {"id": f"new-{i}", "humidity": "3"}]}}}).encode())
    wait_until(lambda: o.status().truncations.get("ams") == 201, what="200 refusals counted")
    assert len(o.status().snapshot.ams) == MAX_AMS_UNITS


def test_new_keys_in_every_delta_do_not_grow_the_picture_without_end(
        fleet: SimulatedFleet, opened: list[Opened]) -> None:
    o = Opened(fleet, 5)
    opened.append(o)
    for i in range(300):
        o.printer.send_raw(json.dumps({"print": {"device": {
            f"k{i}": {f"x{j}": j for j in range(50)}}}}).encode())
    wait_until(lambda: o.status().truncations.get("report", 0) > 0, what="the report bound hit")
    o.printer.update({"print": {"bed_temper": 42.5}})   # known keys still merge
    wait_until(lambda: dict(o.status().snapshot.temperatures).get("bed") == 42.5,
               what="a report after the bound")
