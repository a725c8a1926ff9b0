#!/usr/bin/env python3
"""Benchmark one report message's way into a printer's merged report, without a network.

What a session does for each message (PrinterSession._on_report): parse the JSON, keep
and normalise the used parts (sanitize.decode_message) and merge them (MergedReport).
The messages are the simulator's: a mixed fleet of every model living for --seconds
simulated seconds, X1-class printers sending full reports each second, P1/A1 printers
deltas, as bench_exporter's fleet sends them. Prints microseconds per message:

- `json.loads`: the standard library's parser alone;
- `parse`: the exporter's parser alone (sanitize.parse_json: orjson, json where orjson
  refuses), the floor of the exporter's path;
- `exporter`: decode_message given the merged report, so only what changed since the
  last message is normalised, then the merge (the session's path);
- `normalise all`: json.loads, then every used value normalised and merged (the path
  before the idle-CPU work), and the ratio of the two.

    python3 bench/bench_report_path.py [--printers 130] [--seconds 60] [--rounds 5]

At 1000 printers a fleet sends about 1000 messages a second, so 100 us a message is 10 %
of a core. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from exporter.printer.merge import MergedReport, prune_report  # noqa: E402
from exporter.printer.sanitize import decode_message, normalised, parse_json  # noqa: E402
from exporter.simulator.fleet import make_records  # noqa: E402
from exporter.simulator.models import MODELS  # noqa: E402
from exporter.simulator.printer import SimulatedPrinter  # noqa: E402


class _Capture:
    """A subscribed client that keeps each PUBLISH's payload."""

    subscribed = True

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def send(self, packet: bytes) -> None:
        # Fixed header, remaining length (varint), topic (u16 length + bytes), payload.
        pos, shift = 1, 0
        while packet[pos] & 0x80:
            pos, shift = pos + 1, shift + 7
        pos += 1
        topic_length = int.from_bytes(packet[pos:pos + 2], "big")
        self.payloads.append(packet[pos + 2 + topic_length:])

    def drop(self) -> None:
        pass


def fleet_messages(printers: int, seconds: int, seed: int) -> list[list[bytes]]:
    """Each printer's messages: a full report (the pushall answer), then one flush a
    simulated second, as SimulatedFleet's clock sends them."""
    records = make_records(printers, "127.0.0.1", seed, list(MODELS.values()))
    out = []
    for index, record in enumerate(records):
        printer = SimulatedPrinter(record, MODELS[record.model],
                                   random.Random(f"printer-{seed}-{index}"), True, set())
        capture = _Capture()
        printer.sessions.add(capture)
        printer.push_full()
        for _ in range(seconds):
            printer.tick(1.0)
            printer.flush()
        out.append(capture.payloads)
    return out


def time_path(messages: list[list[bytes]], step: Callable[[MergedReport, bytes], None],
              rounds: int) -> float:
    """Best of `rounds`: microseconds per message, each printer into a fresh report."""
    count = sum(len(m) for m in messages)
    best = float("inf")
    for _ in range(rounds):
        reports = [MergedReport() for _ in messages]
        start = time.perf_counter()
        for report, payloads in zip(reports, messages, strict=True):
            for payload in payloads:
                step(report, payload)
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def exporter_step(report: MergedReport, payload: bytes) -> None:
    decoded = decode_message(payload, report.report.get("print"))
    if decoded.report:
        report.merge(decoded.report)


def normalise_all_step(report: MergedReport, payload: bytes) -> None:
    doc = json.loads(payload)
    cuts = [0]
    kept = prune_report(doc)
    if kept:
        report.merge(normalised(kept, cuts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=130, help="10 of each model by default")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    messages = fleet_messages(args.printers, args.seconds, args.seed)
    count = sum(len(m) for m in messages)
    sizes = [len(p) for m in messages for p in m]
    print(f"messages: {count} from {args.printers} printers over {args.seconds} s, "
          f"{statistics.mean(sizes) / 1024:.1f} KiB mean, {max(sizes) / 1024:.1f} KiB max")

    def json_only(_report: MergedReport, payload: bytes) -> None:
        json.loads(payload)

    def parse_only(_report: MergedReport, payload: bytes) -> None:
        parse_json(payload)

    stdlib = time_path(messages, json_only, args.rounds)
    floor = time_path(messages, parse_only, args.rounds)
    exporter = time_path(messages, exporter_step, args.rounds)
    everything = time_path(messages, normalise_all_step, args.rounds)
    print(f"json.loads:    {stdlib:7.1f} us/message")
    print(f"parse:         {floor:7.1f} us/message (json.loads / parse: {stdlib / floor:.2f}x)")
    print(f"exporter:      {exporter:7.1f} us/message "
          f"({exporter - floor:.1f} beyond parsing)")
    print(f"normalise all: {everything:7.1f} us/message "
          f"({everything - stdlib:.1f} beyond parsing)")
    print(f"normalise all / exporter: {everything / exporter:.2f}x "
          f"(beyond parsing: {(everything - stdlib) / max(exporter - floor, 1e-9):.2f}x)")
    print(f"at 1000 messages/s: exporter {exporter / 10:.1f} % of a core, "
          f"normalise all {everything / 10:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
