"""bench/bench_exporter.py on a handful of printers: it runs to the end, prints every
figure's line and stops what it started (also when interrupted). Behaviour, not timings:
the figures themselves are for people reading a run on a quiet machine."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_exporter.py"


def run_bench(*args: str, timeout: float = 55) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def address_free(ip: str, port: int = 8883) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def test_prints_every_figure_and_exits_zero(addresses: AddressPool) -> None:
    fleet = addresses.take(5)
    result = run_bench("--printers", "5", "--scrapes", "3", "--first-address", fleet.first,
                       "--freshness-printers", "2", "--spaced-scrapes", "1", "--workers", "1,2")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    lines = out.splitlines()

    def line(prefix: str) -> str:
        found = [line for line in lines if line.startswith(prefix)]
        assert found, f"no line starting {prefix!r} in:\n{out}\n{result.stderr}"
        return found[0]

    assert f"5 printers on {fleet.first}..{fleet.last}" in line("bench_exporter: ")
    line("simulator: 5 printers listening")
    assert "5/5" in line("all printers up: ")
    for kind in ("text", "openmetrics"):
        figure = line(f"scrape {kind}: ")
        assert "p50" in figure and "p99" in figure and "bytes per scrape" in figure
        assert figure.rstrip().split(": ")[-1].split()[0] in ("PASS", "MISS")
    assert "per printer" in line("memory: exporter RSS")
    fresh = line("freshness: ")
    assert "2/2" in fresh and ("PASS" in fresh or "MISS" in fresh)
    # both exporter runs, each with every figure, then the two side by side
    assert [x for x in lines if x.startswith("== exporter --workers")] == \
        ["== exporter --workers 1", "== exporter --workers 2"]
    assert sum(x.startswith("scrape text: ") for x in lines) == 2
    assert "3 processes" in [x for x in lines if x.startswith("exporter process: ")][1]
    assert "--workers 1" in line("  ") and "--workers 2" in line("  ")
    line("side by side: 5 printers")
    for label in ("all printers up (s)", "scrape text p50 / p99 (ms)", "freshness p50 / max",
                  "memory per printer beyond empty (KiB)", "processes / threads"):
        row = line(f"  {label}")
        assert len(row.split()) > len(label.split()) + 2, row
    line("scrape spaced: text p50")
    assert "for all 5 printers" in line("seed loop: ")
    assert line("seed loop / exporter scrape p50: ").split(": ")[1].split("x")[0].isdigit()
    line("bench_exporter: done")
    assert address_free(fleet.first), "the simulated printers are still listening"


def test_interrupt_stops_everything(addresses: AddressPool) -> None:
    first = addresses.take(3).first
    proc = subprocess.Popen([sys.executable, str(BENCH), "--printers", "3", "--scrapes", "200",
                             "--first-address", first],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        for text in proc.stdout:  # wait until the fleet and the exporter run
            if text.startswith("all printers up") or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130
    assert address_free(first), "the simulated printers are still listening"


def test_rejects_a_fleet_off_loopback() -> None:
    result = run_bench("--printers", "2", "--first-address", "192.0.2.1", timeout=20)
    assert result.returncode == 2
    assert "127.0.0.0/8" in result.stderr


@pytest.mark.parametrize("count", ["0", "5001"])
def test_rejects_a_fleet_size_out_of_range(count: str) -> None:
    result = run_bench("--printers", count, timeout=20)
    assert result.returncode == 2
    assert "--printers must be 1..5000" in result.stderr
