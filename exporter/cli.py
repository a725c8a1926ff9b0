"""Command line: serve (default), status, simulate."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        # The simulator owns its flags; imported lazily so serving never loads it.
        from exporter.simulator.command import main as simulate_main
        return simulate_main(argv[1:])
    print("bambu-exporter: serve/status are not built yet", file=sys.stderr)
    return 2
