"""SIGTERM ends `serve` within 5 s whatever the printers do (Docker's grace is 10 s), and
every connected session still sends an MQTT DISCONNECT.

The web port is a free port on 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from exporter.simulator import Fault, SimulatedFleet, inventory_out
from tests.support.addresses import AddressPool
from tests.support.e2e import ExporterProcess, clean_env, free_port, http_get, wait_until

pytestmark = pytest.mark.tier("e2e")

HUNG, HEALTHY = 20, 3


def _hung_handshakes(fleet: SimulatedFleet) -> int:
    return fleet.call(lambda: sum(len(listener._writers) for listener in fleet._listeners
                                  if listener.hung))


def test_sigterm_with_hung_handshakes_and_a_long_connect_timeout(addresses: AddressPool,
                                                                 tmp_path: Path) -> None:
    fleet = SimulatedFleet(count=HUNG + HEALTHY, first_address=addresses.take(HUNG + HEALTHY).first,
                           seed=681,
                           life=False, faults={"hung": HUNG}, models=["P1S", "X1C"])
    proc = None
    try:
        fleet.start()
        healthy = [h for h in fleet.printers() if Fault.HUNG not in h.faults]
        printers = tmp_path / "printers.yaml"
        inventory_out.write_yaml(printers, [h.record for h in healthy])
        port = free_port()
        proc = ExporterProcess(["--printers.file", str(printers),
                                "--web.listen-address", f"127.0.0.1:{port}",
                                "--printer.connect-timeout", "30s"], clean_env())
        proc.wait_serving(f"http://127.0.0.1:{port}")
        wait_until(lambda: all(h.connections == 1 for h in healthy), 20,
                   what="the healthy printers connected")
        fleet.write_inventory_yaml(printers)  # now the hung ones too, read on a scrape
        # (scrapes look at the file; a change is taken once it has settled)
        # At least as many as the old connect pool had workers (8) are mid-handshake.
        wait_until(lambda: (http_get(f"http://127.0.0.1:{port}/metrics").status == 200
                            and _hung_handshakes(fleet) >= 8), 20,
                   what="hung handshakes waiting")
        before = {h.serial: h.disconnects for h in healthy}
        started = time.monotonic()
        assert proc.stop(timeout=30) == 0
        took = time.monotonic() - started
        assert took < 5.0, f"shutdown took {took:.1f}s"
        wait_until(lambda: all(h.disconnects == before[h.serial] + 1 for h in healthy), 5,
                   what="one DISCONNECT from every connected session")
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    finally:
        if proc is not None:
            proc.cleanup()
        fleet.stop()
