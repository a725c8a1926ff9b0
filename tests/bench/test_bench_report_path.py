"""bench/bench_report_path.py runs and prints its figures (a small fleet, one round): the
benchmark is only worth its README section while it works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]


def test_report_path_bench_prints_every_figure() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_report_path.py"),
                          "--printers", "13", "--seconds", "3", "--rounds", "1"],
                         cwd=ROOT, text=True, capture_output=True, timeout=120, check=True).stdout
    assert re.search(r"^messages: \d+ from 13 printers over 3 s", out, re.M), out
    for prefix in ("json.loads:", "parse:", "exporter:", "normalise all:"):
        assert re.search(rf"^{re.escape(prefix)}\s+[\d.]+ us/message", out, re.M), (prefix, out)
    assert re.search(r"^normalise all / exporter: [\d.]+x", out, re.M), out
