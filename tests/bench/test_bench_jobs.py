"""bench/bench_jobs.py on a few printers: it runs to the end and prints every figure's line,
with and without jobs. Behaviour, not timings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]


def test_prints_both_ways_and_the_ratios() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_jobs.py"),
                             "--printers", "26", "--rounds", "3"], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "bench_jobs: 26 printers, 3 rounds each way, alternating" in out
    samples = re.search(r"samples per printer: with ([\d.]+), without ([\d.]+)", out)
    assert samples and float(samples[1]) > float(samples[2])   # the new series are there
    for figure in ("collect", "memory"):
        assert re.search(rf"{figure} ratio with/without: [\d.]+ (PASS|MISS)", out), out
    assert re.search(r"jobs ended in the run: \d+", out)
