"""Printers' lines rendered straight from their statuses (metrics.printer_lines) give the
bytes prometheus_client writes for the catalogue's families, in both formats and every
escaping scheme; lines are kept until a printer's status changes; parts rendered apart
(as worker processes do) join into the same exposition."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.metrics.catalogue import (
    CATALOGUE,
    ExporterStatus,
    InventoryStatus,
    exporter_samples,
    families,
    inventory_samples,
)
from exporter.metrics.exposition import RenderedFamily, render
from exporter.metrics.printer_lines import FleetLines, PrinterLines, SampleWriter, rendered_families
from exporter.printer.status import PrinterStatus
from tests.metrics.test_catalogue import _h2d, _offline, _p1s, _x1c
from tests.metrics.test_exposition import AWKWARD_VALUES, ESCAPINGS, Fixed, _first_diff
from tests.support.reference import fleet_samples

pytestmark = pytest.mark.tier("unit")

INVENTORY = InventoryStatus(up=True, printers=4, errors=1, rejected={"bad_address": 2})
EXPORTER = ExporterStatus("0.1.0", "2.6.6", 3, 0.012)


def awkward_statuses() -> list[PrinterStatus]:
    """Names, firmware and job texts needing every escape, on an up printer."""
    base = _x1c()
    assert base.snapshot is not None
    out = []
    for i, text in enumerate(AWKWARD_VALUES):
        snap = dataclasses.replace(base.snapshot, job_file=text, job_task=text[::-1])
        out.append(dataclasses.replace(base, name=text, serial=f"00M{i:012d}", ip=text,
                                       firmware=text, snapshot=snap))
    return out


def statuses() -> list[PrinterStatus]:
    return [_x1c(), _p1s(), _h2d(), _offline(), *awkward_statuses()]


def client_families(printers: list[PrinterStatus]) -> list[Metric]:
    """The reference: prometheus_client families built from the catalogue's samples."""
    samples = fleet_samples(printers, lambda s, e: None)
    samples += inventory_samples(INVENTORY) + exporter_samples(EXPORTER)
    return families(samples)


def fast_families(lines: FleetLines) -> list[RenderedFamily]:
    own = SampleWriter().lines(inventory_samples(INVENTORY) + exporter_samples(EXPORTER))
    return rendered_families(chunk + own.get(i, "") for i, chunk in enumerate(lines.chunks))


def registry(metrics: list[Metric]) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(Fixed(metrics))
    return reg


def assert_same(reference: list[Metric], fast: list[RenderedFamily]) -> None:
    expected_reg, fast_reg = registry(reference), registry(list(fast))
    for escaping in ESCAPINGS:
        for openmetrics, client in ((False, generate_latest), (True, generate_openmetrics)):
            expected = client(expected_reg, escaping=escaping)
            got = render(fast_reg, openmetrics, escaping)
            assert got == expected, f"{openmetrics=} {escaping}:\n{_first_diff(expected, got)}"
            # prometheus_client itself, on the families' parsed-back samples
            assert client(fast_reg, escaping=escaping) == expected


def test_lines_are_client_pythons_bytes_in_every_format_and_escaping() -> None:
    printers = statuses()
    fast = fast_families(PrinterLines().render(printers))
    assert [f.name for f in fast] == [m.name for m in client_families(printers)]
    assert all(any(f.pieces) for f in fast if f.sample_name == "bambu_printer_up")
    assert_same(client_families(printers), fast)


def test_every_family_goes_through_the_fast_path() -> None:
    # Equal bytes could come from the fallback: make the fast path the only way.
    fast = fast_families(PrinterLines().render(statuses()))
    for family in fast:
        object.__setattr__(family, "_parsed", ["not samples"])
    reference = registry(client_families(statuses()))
    # "dots" renames every name, "values" OpenMetrics sample names: prometheus_client's
    for escaping, formats in (("underscores", (False, True)), ("allow-utf-8", (False, True)),
                              ("values", (False,))):
        for openmetrics in formats:
            client = generate_openmetrics if openmetrics else generate_latest
            assert render(registry(list(fast)), openmetrics, escaping) == \
                client(reference, escaping=escaping)


def test_empty_fleet_gives_every_family_header_once() -> None:
    fast = fast_families(PrinterLines().render([]))
    assert_same(client_families([]), fast)
    text = render(registry(list(fast)), False).decode()
    assert [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")] == \
        [s.name for s in CATALOGUE]


def test_lines_kept_until_the_status_changes() -> None:
    lines = PrinterLines()
    printers = statuses()
    first = lines.render(printers)
    assert lines.rendered == len(printers)
    again = lines.render([dataclasses.replace(s) for s in printers])  # equal, not identical
    assert lines.rendered == len(printers)
    assert again == first
    changed = dataclasses.replace(printers[1], last_report=1764009999.0, up=False)
    printers[1] = changed
    third = lines.render(printers)
    assert lines.rendered == len(printers) + 1
    assert third != first
    assert_same(client_families(printers), fast_families(third))


def test_a_changed_printer_keeps_the_lines_of_its_unchanged_families() -> None:
    """Re-rendering a printer that reported takes each family whose samples did not
    change from the last rendering, and writes the rest: the bytes are a fresh
    rendering's, whatever changed (a value, a label needing escapes, a family gone)."""
    lines = PrinterLines()
    printers = statuses()
    lines.render(printers)
    x1c = printers[0]
    assert x1c.snapshot is not None
    kept = lines._cache[x1c.serial][1]
    hotter = tuple((sensor, value + 1.5) for sensor, value in x1c.snapshot.temperatures)
    variants = [
        dataclasses.replace(x1c, last_report=1764009999.0,
                            snapshot=dataclasses.replace(x1c.snapshot, temperatures=hotter)),
        dataclasses.replace(x1c, snapshot=dataclasses.replace(x1c.snapshot,
                                                              job_file=AWKWARD_VALUES[0])),
        dataclasses.replace(x1c, snapshot=dataclasses.replace(x1c.snapshot, trays=())),
        dataclasses.replace(x1c, up=False),
    ]
    for variant in variants:
        printers[0] = variant
        rendered = lines.render(printers)
        assert rendered == PrinterLines().render(printers)
        assert_same(client_families(printers), fast_families(rendered))
    first = variants[0]
    lines.render([first])
    again = dataclasses.replace(first, last_report=1764010000.0)
    before = lines._cache[first.serial][1]
    lines.render([again])
    after = lines._cache[first.serial][1]
    reused = [index for index in after if after[index] is before.get(index)]
    assert len(reused) == len(after) - 1 and len(kept) == len(after)   # only last_report


def test_printers_that_left_are_dropped_from_the_lines_and_the_cache() -> None:
    lines = PrinterLines()
    printers = statuses()
    lines.render(printers)
    kept = printers[2:]
    out = lines.render(kept)
    assert out.printers == len(kept)
    assert_same(client_families(kept), fast_families(out))
    lines.render(printers)
    assert lines.rendered == len(printers) + 2   # the two came back: rendered afresh


def test_a_printer_that_cannot_be_rendered_is_left_out_and_counted() -> None:
    failed: list[str] = []
    bad = dataclasses.replace(_p1s(), name=None)  # type: ignore[arg-type]
    lines = PrinterLines(lambda status, exc: failed.append(status.serial))
    good = [_x1c(), _h2d()]
    out = lines.render([good[0], bad, good[1]])
    assert (out.printers, out.failed, failed) == (2, 1, [bad.serial])
    assert_same(client_families(good), fast_families(out))


def test_parts_rendered_apart_join_into_the_one_process_exposition() -> None:
    printers = statuses()
    parts = [PrinterLines().render(printers[i::3]) for i in range(3)]
    joined = FleetLines.join(parts)
    order = [s for i in range(3) for s in printers[i::3]]
    assert joined == PrinterLines().render(order)
    assert joined.printers == len(printers)
    assert_same(client_families(order), fast_families(joined))
    # as the collector hands them on: each family's pieces, part after part, not joined
    own = SampleWriter().lines(inventory_samples(INVENTORY) + exporter_samples(EXPORTER))
    pieces = rendered_families([*(p.chunks[i] for p in parts), own.get(i, "")]
                               for i in range(len(CATALOGUE)))
    assert any(len([x for x in f.pieces if x]) > 1 for f in pieces)
    assert_same(client_families(order), pieces)


def test_name_filter_keeps_whole_families() -> None:
    fast_reg = registry(list(fast_families(PrinterLines().render(statuses()))))
    names = ["bambu_printer_up", "bambu_printer_connects_total", "bambu_inventory_up"]
    expected_reg = registry(client_families(statuses()))
    for escaping in ESCAPINGS:
        assert render(fast_reg.restricted_registry(names), False, escaping) == \
            generate_latest(expected_reg.restricted_registry(names), escaping=escaping)
        assert render(fast_reg.restricted_registry(names), True, escaping) == \
            generate_openmetrics(expected_reg.restricted_registry(names), escaping=escaping)
