"""A P1-class delta stream merged deeply gives the same picture as a fresh full report."""

from __future__ import annotations

import random
import time

import pytest

from exporter.simulator import SimulatedFleet
from exporter.simulator.models import MODELS
from exporter.simulator.printer import SimulatedPrinter, SimulatedRecord, changes
from tests.simulator.helpers import Listener, deep_merge, wait_until, without_volatile
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")


def picture(client: Listener) -> dict:
    """Every print message so far, merged in order."""
    return merge_from_first_full(client.prints())


def merge_from_first_full(stream: list[dict]) -> dict:
    """A delta that raced ahead of the first full report means nothing on its own."""
    start = next(i for i, d in enumerate(stream) if d["print"]["msg"] == 0)
    merged: dict = {}
    for doc in stream[start:]:
        deep_merge(merged, {"print": doc["print"]})
    return merged


def test_changes_keeps_only_what_differs() -> None:
    current = {"print": {"a": 1, "ams": {"tray_now": "0", "ams": [1, 2]}, "l": [1]}}
    assert changes(current, {"print": {"a": 1, "ams": {"tray_now": "1", "ams": [1, 2]}}}) == \
        {"print": {"ams": {"tray_now": "1"}}}
    assert changes(current, {"print": {"l": [1, 2]}}) == {"print": {"l": [1, 2]}}
    assert changes(current, {"print": {"a": 1.0}}) == {"print": {"a": 1.0}}  # type counts
    assert changes(current, {"print": {"a": 1}}) is None


def test_delta_stream_merged_equals_full_report_scripted(addresses: AddressPool) -> None:
    with SimulatedFleet(count=2, first_address=addresses.take(2).first, seed=5, life=False,
                        models=["P1S", "A1"]) as fleet:
        for record in fleet.records:
            handle = fleet.printer(record.serial)
            with Listener(record) as client:
                wait_until(lambda: client.prints(), what="full report")
                handle.set_state("PREPARE")
                handle.update({"print": {"ams": {"tray_now": "1"}}})
                handle.set_state("RUNNING")
                handle.update({"print": {"mc_percent": 37, "layer_num": 12,
                                         "lights_report": [{"node": "chamber_light",
                                                            "mode": "off"}]}})
                handle.set_state("FAILED")
                handle.set_state("IDLE")
                wait_until(lambda: len(client.prints()) >= 7, what="deltas")
                deltas = client.prints()[1:]
                assert client.prints()[0]["print"]["msg"] == 0
                assert all(d["print"]["msg"] == 1 for d in deltas)
                assert {"tray_now": "1"} in [d["print"].get("ams") for d in deltas]
                merged = picture(client)
                client.request({"pushing": {"command": "pushall"}})
                wait_until(lambda: client.prints()[-1]["print"]["msg"] == 0, what="fresh full")
                fresh = client.prints()[-1]
                assert without_volatile(merged) == without_volatile(fresh)
                assert without_volatile(fresh) == without_volatile(handle.report())


def test_delta_stream_merged_equals_full_report_living(addresses: AddressPool) -> None:
    # speed 200: jobs start, temperatures move, AMS trays get used within seconds
    with SimulatedFleet(count=4, first_address=addresses.take(4).first, seed=9, speed=200.0,
                        models=["P1P", "P1S", "A1MINI", "A1"]) as fleet:
        clients = [Listener(r).start() for r in fleet.records]
        try:
            wait_until(lambda: all(len(c.prints()) >= 6 for c in clients), timeout=15,
                       what="a few deltas from every printer")
            time.sleep(1.0)
            for client in clients:
                prints = client.prints()
                # deltas really are partial
                assert any(d["print"]["msg"] == 1 and len(d["print"]) < 20 for d in prints)
                count = len(prints)
                client.request({"pushing": {"command": "pushall"}})
                wait_until(lambda c=client, n=count: any(d["print"]["msg"] == 0 for d in c.prints()[n:]),
                           what="fresh full report")
                # everything merged up to the fresh full report must equal it
                stream = client.prints()
                fresh_at = next(i for i in range(count, len(stream))
                                if stream[i]["print"]["msg"] == 0)
                merged = merge_from_first_full(stream[:fresh_at])
                assert without_volatile(merged) == without_volatile(stream[fresh_at])
        finally:
            for client in clients:
                client.stop()


def test_printer_without_fleet_life_moves_through_states() -> None:
    model = MODELS["P1S"]
    record = SimulatedRecord("p1s-001", "127.0.15.99", "01P09A010000001", "12345678", "P1S")
    printer = SimulatedPrinter(record, model, random.Random(4), life=True, faults=set())
    seen = set()
    for _ in range(20000):
        printer.tick(5.0)
        seen.add(printer.report["print"]["gcode_state"])
        if seen >= {"PREPARE", "RUNNING", "FINISH"}:
            break
    assert {"PREPARE", "RUNNING", "FINISH"} <= seen
