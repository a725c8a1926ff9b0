#!/usr/bin/env python3
"""Benchmark: rendering the landing page (/) for a farm, against rendering the same
printers' /metrics samples (tests.support.reference.fleet_samples) as the baseline, in the
same run; and one printer's page against the landing page.

    python bench/bench_landing_page.py [--printers 12 1000] [--repeats 15]

The printers are the simulator's: every model, each in a state from the simulator's
life (running, paused, failed, finished, idle), with its reports' HMS messages; one in
fifty offline with a reason, one in twenty-five with HMS warnings. Built once; only
rendering is timed (the page renders from the same cached statuses as /metrics). Prints
the median render time, the page's size raw and gzipped, and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from exporter.simulator import reports
from exporter.simulator.life import Life
from exporter.simulator.models import MODELS
from exporter.web.landing_page import Filter, landing_page
from exporter.web.printer_page import printer_page
from tests.support.reference import fleet_samples

LABELS = {"A1MINI": "A1_MINI"}
REASONS = (OfflineReason.AUTH, OfflineReason.REFUSED, OfflineReason.TIMEOUT)


def fleet(count: int, seed: int = 1) -> list[PrinterStatus]:
    rng = random.Random(seed)
    models = list(MODELS.values())
    out = []
    for i in range(count):
        model = models[i % len(models)]
        report = reports.full_report(model, rng)
        reports.merge(report["print"], Life(model, rng).spread(i % 37 == 0))
        if i % 25 == 3:
            report["print"]["hms"] = [reports.hms_entry(*w) for w in reports.WARNINGS[:2]]
        label = LABELS.get(model.code, model.code)
        status = PrinterStatus(
            name=f"{model.slug}-{i:04d}", serial=f"{model.prefix}09A{i:07d}", ip="10.0.0.1",
            model=label, firmware=model.firmware, up=True, connected=True,
            last_report=time.time() - rng.uniform(0, 3), snapshot=snapshot(report, label),
            connects=1)
        if i % 50 == 7:
            status = replace(status, up=False, connected=False, last_error="refused",
                             last_error_reason=REASONS[i % len(REASONS)])
        out.append(status)
    return out


def median_seconds(fn, repeats: int) -> float:  # noqa: ANN001 - a callable
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, nargs="+", default=[12, 1000])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    for count in args.printers:
        statuses = fleet(count)
        now = time.time()
        page = landing_page(statuses, "bench", now).encode()
        attention = landing_page(statuses, "bench", now,
                                 wanted=Filter(state="attention")).encode()
        page_s = median_seconds(lambda s=statuses, t=now: landing_page(s, "bench", t),
                                args.repeats)
        samples_s = median_seconds(lambda s=statuses: fleet_samples(s, lambda _s, _e: None),
                                   args.repeats)
        print(f"== {count} printers")
        print(f"landing page render median: {page_s * 1000:.1f} ms")
        print(f"landing page size: {len(page) / 1024:.0f} KiB, "
              f"gzip -1 {len(gzip.compress(page, 1)) / 1024:.0f} KiB")
        print(f"landing page ?state=attention size: {len(attention) / 1024:.0f} KiB")
        print(f"baseline (the same printers' /metrics samples) median: "
              f"{samples_s * 1000:.1f} ms")
        print(f"ratio page / baseline: {page_s / samples_s:.2f}")
        # one printer's page: its cost is finding the printer (the statuses come as the
        # overview's do) and one printer's HTML, against the whole overview
        one = statuses[len(statuses) // 2]
        one_s = median_seconds(
            lambda s=statuses, t=now, serial=one.serial: printer_page(
                next(x for x in s if x.serial == serial), t, lambda _c: ""), args.repeats)
        print(f"printer page render median: {one_s * 1000:.2f} ms, "
              f"{len(printer_page(one, now, lambda _c: '').encode()) / 1024:.0f} KiB; "
              f"ratio printer page / landing page: {one_s / page_s:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
