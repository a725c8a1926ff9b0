"""bench/bench_job_files.py on a handful of printers: it runs to the end and prints every
figure's line. Behaviour, not timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]


def test_prints_every_figure_and_exits_zero(addresses: AddressPool) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_job_files.py"), "--printers", "6",
         "--spread", "2", "--settle", "4", "--size-mb", "3", "--first-address",
         addresses.take(6).first, "--bytes-address", addresses.take().first],
        cwd=ROOT, text=True, capture_output=True, timeout=240)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    lines = out.splitlines()
    assert lines[0].startswith("1000 changed printers' views with the plan: ")
    assert lines[1].startswith("1000 changed printers' views counters only: ")
    assert lines[2].startswith("ratio with the plan / counters only: bytes ")
    # the plan is what the counters-only views leave out: they are smaller
    assert float(lines[2].split("bytes ")[1].split(",")[0]) > 1.0
    first = lines[3]
    assert first.startswith("bytes per job (3 MB 3MF): ranged") and "PASS" in first
    whole = int(first.split("whole ")[1].split(" B")[0])
    assert whole > 3_000_000   # the whole file, padded to its size, was read the other way
    assert "without FTPS: 6 printers starting jobs within 2 s" in out
    with_ftps = next(line for line in out.splitlines() if line.startswith("with FTPS"))
    assert "plans shown 6, fetch errors 0; FTPS sessions 6" in with_ftps
    assert "ratio with/without FTPS: scrape p50" in out
