"""`python -m tests.support.demo_in_range ARGS` = `bambu-exporter ARGS`, with the --demo
fleet on the addresses in E2E_DEMO_FIRST_ADDRESS instead of its built-in 127.0.80.1.

Tests share this machine's loopback addresses by range; the demo fleet's range is fixed
in exporter/cli.py (Demo), so a test that runs --demo moves it into its own range. Only
the first address changes: the fleet, the faults and the command line are the real ones.
"""

from __future__ import annotations

import os
import sys

import exporter.simulator as simulator

_RealFleet = simulator.SimulatedFleet


class _MovedFleet(_RealFleet):
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["first_address"] = os.environ["E2E_DEMO_FIRST_ADDRESS"]
        super().__init__(*args, **kwargs)


simulator.SimulatedFleet = _MovedFleet  # type: ignore[misc]

if __name__ == "__main__":
    from exporter.cli import main
    sys.exit(main())
