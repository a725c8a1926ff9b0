"""Memory and CPU of each worker process, read by the main process from /proc.

`process_*` (client_python's ProcessCollector) describe the main process only. The
workers get series of their own, one per worker, rather than one sum: a sum would hide a
single worker growing, and a restarted worker's CPU counter starting again from 0 would
make a summed counter go down, which rate() takes for a reset of the whole sum. Per
worker, a restart is an ordinary counter reset of that worker's series.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def parse_cpu_seconds(stat: str, ticks_per_second: float) -> float:
    """/proc/<pid>/stat -> user + system CPU seconds. The command name (field 2) may
    hold spaces and parentheses: fields are counted from its last ')'."""
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / ticks_per_second


def parse_resident_bytes(statm: str, page_size: int) -> int:
    """/proc/<pid>/statm -> resident set size in bytes (its second field, in pages)."""
    return int(statm.split()[1]) * page_size


class WorkerProcessCollector(Collector):
    """Series of every live worker; `pids()` gives (worker index, pid) pairs."""

    def __init__(self, pids: Callable[[], list[tuple[int, int]]],
                 proc: Path = Path("/proc")) -> None:
        self._pids = pids
        self._proc = proc
        self._ticks = float(os.sysconf("SC_CLK_TCK"))
        self._page = os.sysconf("SC_PAGE_SIZE")

    def collect(self) -> Iterator[Metric]:
        memory = GaugeMetricFamily(
            "bambu_exporter_worker_resident_memory_bytes",
            "Resident memory of each worker process (--workers); process_* are the main "
            "process's.", labels=["worker"])
        cpu = CounterMetricFamily(
            "bambu_exporter_worker_cpu_seconds",
            "User and system CPU time of each worker process; starts again from 0 when a "
            "worker is restarted.", labels=["worker"])
        for index, pid in self._pids():
            try:
                stat = (self._proc / str(pid) / "stat").read_text()
                statm = (self._proc / str(pid) / "statm").read_text()
                seconds = parse_cpu_seconds(stat, self._ticks)
                resident = parse_resident_bytes(statm, self._page)
            except (OSError, ValueError, IndexError):
                continue   # exited between the list and the read: absent this scrape
            memory.add_metric([str(index)], resident)
            cpu.add_metric([str(index)], seconds)
        yield memory
        yield cpu
