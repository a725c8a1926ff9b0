"""bench/bench_shards.py on a handful of printers: it runs to the end, prints every
figure's line, and says every printer was held exactly once. Behaviour, not timings.
Printer addresses: 127.0.75.x (nothing listens there; the bench needs no printers)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_shards.py"


def run_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def test_prints_every_figure_and_holds_every_printer_once() -> None:
    result = run_bench("--printers", "12", "--first-address", "127.0.75.1")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    lines = out.splitlines()

    def line(prefix: str) -> str:
        found = [text for text in lines if text.startswith(prefix)]
        assert len(found) == 1, f"no single line starting {prefix!r} in:\n{out}"
        return found[0]

    assert "12 printers on 127.0.75.1..127.0.75.12" in line("bench_shards: 12 printers")
    assert "12 rows" in line("table: ")
    for count in (2, 3):
        figure = line(f"{count} shards: ")
        held = [int(n) for n in re.findall(r"shard \d+ holds (\d+)", figure)]
        assert len(held) == count and sum(held) == 12, figure
        assert "12/12 held exactly once, 0 twice, 0 missing: PASS" in figure
    moved = re.search(r"^2 -> 3 shards: (\d+) of 12 printers moved .* (\d+) of them to the "
                      r"new shard 2, (\d+) predicted .*: PASS$", line("2 -> 3 shards: "))
    assert moved and moved.group(1) == moved.group(2) == moved.group(3)
    line("bench_shards: done")


@pytest.mark.parametrize("args, message", [
    (["--printers", "0"], "--printers must be 1..5000"),
    (["--printers", "5001"], "--printers must be 1..5000"),
    (["--first-address", "192.0.2.1"], "127.0.0.0/8"),
])
def test_rejects_bad_arguments(args: list[str], message: str) -> None:
    result = run_bench(*args, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr
