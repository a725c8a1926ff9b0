"""Reference paths that only tests and benchmarks take: the merge without its bound on
the whole report, and every printer's samples built afresh (production merges through
MergedReport and renders through the per-printer line cache)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from exporter.metrics.catalogue import Describe, Sample, no_text, renderable_samples
from exporter.printer.merge import MergedReport
from exporter.printer.status import PrinterStatus


def deep_merge(base: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a P1/A1 delta into a full report in place, as the sessions do, with the
    per-list bounds but none on the whole report; returns `base`."""
    merged = MergedReport(max_values=-1)
    merged.report = base
    merged.merge(delta)
    return base


def fleet_samples(statuses: Iterable[PrinterStatus],
                  on_error: Callable[[PrinterStatus, Exception], None],
                  describe: Describe = no_text) -> list[Sample]:
    """Samples of every printer; one printer's failure leaves it out, not the scrape."""
    out: list[Sample] = []
    for status in statuses:
        try:
            samples = renderable_samples(status, describe)
        except Exception as exc:  # noqa: BLE001 - isolate one printer's bad data
            on_error(status, exc)
        else:
            out.extend(samples)
    return out
