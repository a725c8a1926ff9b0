"""worker_metrics.py: /proc parsing, and the collector on real processes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.fleet.worker_metrics import (
    WorkerProcessCollector,
    parse_cpu_seconds,
    parse_resident_bytes,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("unit")


def test_cpu_seconds_count_fields_after_the_last_parenthesis() -> None:
    # a command name with spaces and a ')' must not shift the fields
    stat = ("4242 (evil ) R 1 2) S 1 4242 4242 0 -1 4194560 900 0 0 0 "
            "250 150 0 0 20 0 3 0 100 1000 200 ...")
    assert parse_cpu_seconds(stat, 100.0) == 4.0


def test_resident_bytes_are_pages_times_the_page_size() -> None:
    assert parse_resident_bytes("5000 1200 300 1 0 900 0\n", 4096) == 1200 * 4096


@pytest.mark.tier("e2e")
def test_the_collector_reads_live_processes_and_skips_gone_ones() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(20_000_000);"
                              " sum(range(3_000_000)); time.sleep(30)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        registry = CollectorRegistry()
        registry.register(WorkerProcessCollector(lambda: [(0, child.pid), (1, gone.pid)]))

        def rss() -> float | None:
            return registry.get_sample_value("bambu_exporter_worker_resident_memory_bytes",
                                             {"worker": "0"})
        # the child touches its 20 MB; wait until it has
        wait_until(lambda: (rss() or 0) > 20_000_000, 10, what="the child's 20 MB resident")
        cpu = registry.get_sample_value("bambu_exporter_worker_cpu_seconds_total",
                                        {"worker": "0"})
        assert cpu is not None and cpu > 0
        text = generate_latest(registry).decode()
        assert 'worker="1"' not in text   # exited: left out, not an error
    finally:
        child.kill()
        child.wait()
