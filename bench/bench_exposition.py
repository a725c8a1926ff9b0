#!/usr/bin/env python3
"""Benchmark: rendering /metrics, prometheus_client's generate_latest against
metrics.exposition.render, for 200 and 1000 printers' worth of families.

    python bench/bench_exposition.py [--printers 200 1000] [--repeats 15]

The families are built once, as FleetCollector builds them on a scrape (metrics.families
over PrinterStatus values with snapshots of X1C, P1S and H2D reports, each printer's
temperatures, progress and counters varied, one printer in ten offline), plus the
process, platform and GC collectors. Only rendering is timed: both renderers see the same
already-built families. In each repeat both renderers run back to back in each format, in
alternating order, and the median over repeats is printed with the ratio. It also checks
that both produce the same bytes, and times gzip of the text output at a few levels.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)

from exporter.metrics.catalogue import (
    ExporterStatus,
    InventoryStatus,
    exporter_samples,
    families,
    inventory_samples,
)
from exporter.metrics.exposition import render
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from tests.support import payloads
from tests.support.reference import fleet_samples

MODELS = (("X1C", payloads.x1c_running), ("P1S", payloads.p1s_idle),
          ("H2D", payloads.h2d_running))


def fleet(count: int, seed: int = 1) -> list[PrinterStatus]:
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        model, build = MODELS[i % len(MODELS)]
        report = build()
        p = report["print"]
        p["nozzle_temper"] = round(rnd.uniform(20, 260), 1)
        p["bed_temper"] = round(rnd.uniform(20, 100), 1)
        if p["gcode_state"] == "RUNNING":
            p["mc_percent"] = rnd.randint(0, 100)
            p["mc_remaining_time"] = rnd.randint(1, 600)
            p["layer_num"] = rnd.randint(1, 300)
            p["subtask_name"] = f"job-{i}"
        p["wifi_signal"] = f"-{rnd.randint(30, 90)}dBm"
        up = i % 10 != 9
        out.append(PrinterStatus(
            name=f"farm-{model.lower()}-{i:04d}", serial=f"{i:015d}",
            ip=f"10.0.{i // 250}.{i % 250 + 1}", model=model, firmware="01.09.00.01",
            up=up, connected=up, last_report=1764000000.0 + rnd.random() * 30,
            snapshot=snapshot(report, model), connects=rnd.randint(1, 5),
            connection_errors={"dropped": rnd.randint(0, 3)}, message_errors={"json": rnd.randint(0, 2)},
            prints={"finished": rnd.randint(0, 200), "failed": rnd.randint(0, 10)}))
    return out


def registry_for(count: int) -> CollectorRegistry:
    samples = fleet_samples(fleet(count), lambda status, exc: None)
    samples += inventory_samples(InventoryStatus(up=True, printers=count, errors=0))
    samples += exporter_samples(ExporterStatus("0.1.0", "2.6.6", 0, 0.015))
    built = families(samples)
    live = CollectorRegistry()
    ProcessCollector(registry=live)
    PlatformCollector(registry=live)
    GCCollector(registry=live)
    built += list(live.collect())   # frozen: both renderers see the same values

    class Fixed:
        def collect(self) -> list[Any]:
            return built

    registry = CollectorRegistry()
    registry.register(Fixed())
    return registry


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench(count: int, repeats: int) -> None:
    registry = registry_for(count)
    text = generate_latest(registry)
    om = generate_openmetrics(registry)
    same = text == render(registry, False) and om == render(registry, True)
    lines = text.count(b"\n") - text.count(b"\n#")
    print(f"{count} printers: {lines} samples, {len(text) / 1e6:.2f} MB text, "
          f"byte-identical: {'yes' if same else 'NO'}")
    runs: dict[str, list[float]] = {k: [] for k in ("client text", "ours text",
                                                   "client openmetrics", "ours openmetrics")}
    for i in range(repeats):
        pairs = [("client text", lambda: generate_latest(registry)),
                 ("ours text", lambda: render(registry, False)),
                 ("client openmetrics", lambda: generate_openmetrics(registry)),
                 ("ours openmetrics", lambda: render(registry, True))]
        if i % 2:
            pairs = [pairs[1], pairs[0], pairs[3], pairs[2]]
        for name, fn in pairs:
            runs[name].append(timed(fn))
    med = {k: statistics.median(v) for k, v in runs.items()}
    for fmt in ("text", "openmetrics"):
        client, ours = med[f"client {fmt}"], med[f"ours {fmt}"]
        print(f"  render {fmt:<12} prometheus_client {ms(client)}   ours {ms(ours)}   "
              f"ratio {client / ours:4.1f}x")
    for level in (1, 6, 9):
        took = statistics.median(timed(lambda level=level: gzip.compress(text, level))
                                 for _ in range(max(3, repeats // 3)))
        size = len(gzip.compress(text, compresslevel=level))
        print(f"  gzip level {level} of the text  {ms(took)}   {size / 1e3:.0f} kB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    for count in args.printers:
        bench(count, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
