#!/usr/bin/env python3
"""Benchmark: what jobs cost (the job model, the state clock and their series), at a
thousand printers, with and without them alternately in one run.

    python bench/bench_jobs.py [--printers 1000] [--rounds 12] [--seed 3]

The printers are sessions (printer/session.py, not connected: the network loop's
callbacks are called as it calls them) fed the simulator's reports: every model, each
living its life (jobs start, run, pause, end finished, failed or cancelled; the
project_file echo at each start), five simulated minutes of it per round. A round is one
report per printer, then what the collector does on a scrape: every session's status()
and the render of every printer's lines (metrics/printer_lines.py). Every printer changed,
as between two scrapes of a real farm, so every printer is rendered.

"with": the sessions as they are. "without": the same sessions with the job tracker and
the state clock replaced by ones that do nothing, and the new families (print_seconds,
state_seconds, state_since, prints_total's cancelled) left out of the samples; both ways
pass through the same sample filter, so its cost does not favour either. Rounds
alternate with/without so the machine's noise hits both alike. Memory: the Python heap
(tracemalloc) of building and feeding the sessions, each way, alternately, after one
warm-up build that pays for the strings every build shares.

Prints the median collect time each way and per printer, the ratio (the median of each
round's with/without: both ways of a round share its moment's noise), and KiB per printer
each way with the ratio; the target is at most +10 % on both.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exporter.inventory.record import PrinterRecord
from exporter.metrics import printer_lines
from exporter.metrics.catalogue import Describe, Sample, renderable_samples
from exporter.metrics.printer_lines import PrinterLines
from exporter.printer.jobs import Jobs
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.status import PrinterStatus
from exporter.simulator import reports
from exporter.simulator.life import Life
from exporter.simulator.models import MODELS

TARGET = 1.10
ROUND_SECONDS = 1.5        # between two scrapes, as the exporter's clocks see it
SIMULATED_PER_ROUND = 300.0
NEW_FAMILIES = frozenset({"bambu_printer_print_seconds_total", "bambu_printer_state_seconds_total",
                          "bambu_printer_state_since_timestamp_seconds"})


class _NoJobs:
    """A job tracker that tracks nothing: the sessions without jobs."""

    jobs = Jobs()

    def reconnected(self) -> None:
        pass

    def observe(self, *_: Any) -> bool:
        return False


class _NoStateTime:
    since = None
    observed = 0.0

    def observe(self, *_: Any) -> None:
        pass

    def totals(self) -> dict[str, float]:
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 1_765_000_000.0

    def wall(self) -> float:
        return self.now

    def mono(self) -> float:
        return self.now


def streams(count: int, rounds: int, seed: int) -> list[list[bytes]]:
    """Per printer: its first full report, then one message per round (the round's
    changes, preceded by the project_file echo when a job started)."""
    rng = random.Random(seed)
    models = list(MODELS.values())
    out = []
    for index in range(count):
        model = models[index % len(models)]
        report = reports.full_report(model, rng)
        life = Life(model, rng)
        reports.merge(report["print"], life.spread(False))
        life.echo = None
        messages = [json.dumps(report).encode()]
        for _ in range(rounds):
            fields = life.step(report, SIMULATED_PER_ROUND, False)
            echo = life.take_echo(str(index))
            reports.merge(report["print"], fields)
            fields.update(mc_remaining_time=rng.randint(1, 600))   # every printer changed
            reports.merge(report["print"], {"mc_remaining_time": fields["mc_remaining_time"]})
            message = json.dumps({"print": fields}).encode()
            messages.append(json.dumps(echo).encode() + b"\n" + message if echo else message)
        out.append(messages)
    return out


def build(count: int, clock: Clock, with_jobs: bool) -> list[PrinterSession]:
    models = list(MODELS.values())
    sessions = []
    for index in range(count):
        model = models[index % len(models)]
        record = PrinterRecord(f"{model.slug}-{index:04d}", "192.0.2.1",
                               f"{model.prefix}09A{index:07d}", "12345678")
        session = PrinterSession(record, SessionSettings(staleness=60.0), clock=clock.wall,
                                 monotonic=clock.mono)
        if not with_jobs:
            session._jobs = _NoJobs()            # type: ignore[assignment]
            session._state_time = _NoStateTime()  # type: ignore[assignment]
        session._on_connack(0)
        sessions.append(session)
    return sessions


def feed(session: PrinterSession, message: bytes) -> None:
    for part in message.split(b"\n"):
        session._on_report(part)


def sample_filter(dropped: Callable[[], bool]) -> Callable[[PrinterStatus, Describe], list[Sample]]:
    """renderable_samples through one filter both ways: the new families out when
    `dropped()`, nothing out otherwise (the same work either way)."""
    def samples(status: PrinterStatus, describe: Describe) -> list[Sample]:
        drop = dropped()
        return [s for s in renderable_samples(status, describe)
                if not (drop and (s[0] in NEW_FAMILIES
                                  or s[0] == "bambu_printer_prints_total"
                                  and s[1][-1] == "cancelled"))]
    return samples


def heap_per_printer(count: int, messages: list[list[bytes]], with_jobs: bool) -> float:
    gc.collect()
    tracemalloc.start()
    clock = Clock()
    sessions = build(count, clock, with_jobs)
    for round_index in range(len(messages[0])):
        clock.now += ROUND_SECONDS
        for session, stream in zip(sessions, messages, strict=True):
            feed(session, stream[round_index])
        for session in sessions:
            session.status(clock.now)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del sessions
    gc.collect()
    return used / count / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=12, help="scrapes timed each way")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    count, rounds = args.printers, args.rounds
    print(f"bench_jobs: {count} printers, {rounds} rounds each way, alternating", flush=True)
    messages = streams(count, rounds + 1, args.seed)

    state = {"drop": False}
    printer_lines.renderable_samples = sample_filter(lambda: state["drop"])  # type: ignore[assignment]
    ways = {True: Clock(), False: Clock()}
    sessions = {way: build(count, clock, way) for way, clock in ways.items()}
    lines = {way: PrinterLines() for way in ways}
    samples_per_printer: dict[bool, float] = {}
    for way in ways:   # the first full report, and a first render to fill each cache
        state["drop"] = not way
        for session, stream in zip(sessions[way], messages, strict=True):
            feed(session, stream[0])
        lines[way].render([s.status(ways[way].now) for s in sessions[way]])
    times: dict[bool, list[float]] = {True: [], False: []}
    for round_index in range(1, rounds + 1):
        for way in ((True, False) if round_index % 2 else (False, True)):
            state["drop"] = not way
            clock = ways[way]
            clock.now += ROUND_SECONDS
            for session, stream in zip(sessions[way], messages, strict=True):
                feed(session, stream[round_index])
            gc.collect()
            started = time.perf_counter()
            statuses = [session.status(clock.now) for session in sessions[way]]
            rendered = lines[way].render(statuses)
            times[way].append(time.perf_counter() - started)
            samples_per_printer[way] = sum(chunk.count("\n") for chunk in rendered.chunks) / count
    state["drop"] = False
    ended = sum(sum(s.status(ways[True].now).prints.values()) for s in sessions[True])
    del sessions, lines
    gc.collect()

    with_ms = statistics.median(times[True]) * 1000
    without_ms = statistics.median(times[False]) * 1000
    # Each round times both ways back to back: the ratio within a round shares that
    # moment's noise; the median of those is the figure (the fastest of each way beside it).
    ratio = statistics.median(w / o for w, o in zip(times[True], times[False], strict=True))
    fastest = min(times[True]) / min(times[False])
    print(f"jobs ended in the run: {ended} (the job model at work)")
    print(f"samples per printer: with {samples_per_printer[True]:.1f}, "
          f"without {samples_per_printer[False]:.1f}")
    print(f"collect with jobs: p50 {with_ms:.1f} ms ({with_ms * 1000 / count:.1f} us per "
          f"printer); without: p50 {without_ms:.1f} ms "
          f"({without_ms * 1000 / count:.1f} us per printer)")
    print(f"collect ratio with/without: {ratio:.3f} "
          f"{'PASS' if ratio <= TARGET else 'MISS'} (target <= {TARGET:.2f}; median of the "
          f"rounds' ratios; fastest with / fastest without {fastest:.3f})")

    heap_per_printer(count, messages, True)   # warm-up: the strings every build shares
    heaps: dict[bool, list[float]] = {True: [], False: []}
    for way in (True, False, False, True):
        heaps[way].append(heap_per_printer(count, messages, way))
    with_kib, without_kib = statistics.median(heaps[True]), statistics.median(heaps[False])
    memory_ratio = with_kib / without_kib
    print(f"memory with jobs: {with_kib:.1f} KiB per printer; without: {without_kib:.1f} KiB "
          f"per printer (Python heap, tracemalloc)")
    print(f"memory ratio with/without: {memory_ratio:.3f} "
          f"{'PASS' if memory_ratio <= TARGET else 'MISS'} (target <= {TARGET:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
