#!/usr/bin/env python3
"""Print `name: STATE` for every printer in the `printers` table, then exit.

The seed's monitoring script, now a thin wrapper around `bambu-exporter status`, which
holds one short MQTT session per printer, waits (bounded by --timeout) for each
printer's first report, prints one line per printer and exits non-zero if any printer
is unreachable or refuses its access code.

    DB_HOST=db.example DB_PORT=5432 DB_NAME=familyRewardDb DB_USER=reader \
    DB_PASSWORD_FILE=/run/secrets/db python examples/monitor_printers.py [--timeout 10s]

Every `bambu-exporter status` flag works here (`--help` lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from exporter.cli import main
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from exporter.cli import main

if __name__ == "__main__":
    sys.exit(main(["status", *sys.argv[1:]]))
