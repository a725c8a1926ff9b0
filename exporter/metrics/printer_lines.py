"""Each printer's exposition lines, rendered straight from the catalogue's samples and
kept until the printer's status changes.

A scrape then costs a dictionary look-up and a status comparison per unchanged printer,
instead of fresh prometheus_client families and their formatting for every sample. The
lines are the bytes prometheus_client writes for the same samples: labels sorted by
name, values through floatToGoString, label values escaped as both formats escape them.
Sample lines are the same in the text format and OpenMetrics (only HELP/TYPE differ), and
the catalogue's names need no escaping under any scheme, so one rendering serves every
format; exposition.RenderedFamily adds the headers.

Rendering is generic over CATALOGUE: any family printer_samples emits is rendered, in
catalogue order, with every printer's samples grouped under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from exporter.metrics.catalogue import CATALOGUE, Sample, Spec, no_text, renderable_samples
from exporter.metrics.exposition import RenderedFamily, go_float
from exporter.printer.error_texts import TextLookup
from exporter.printer.status import PrinterStatus

FAMILY_INDEX: dict[str, int] = {spec.name: index for index, spec in enumerate(CATALOGUE)}


def _template(spec: Spec) -> tuple[str, tuple[int, ...]]:
    """'name{a="%s",b="%s"} %s\\n' with labels in sorted-name order, and the positions
    of the sample's label values in that order."""
    names = spec.label_names
    order = tuple(sorted(range(len(names)), key=lambda i: names[i]))
    if not names:
        return f"{spec.name} %s\n", order
    pairs = ",".join(f'{names[i]}="%s"' for i in order)
    return f"{spec.name}{{{pairs}}} %s\n", order


@dataclass(frozen=True)
class _Layout:
    # Per family: the template, the label positions in sorted-name order, and whether
    # that order is the labels' own (then the values go in as they come).
    templates: tuple[tuple[str, tuple[int, ...], bool], ...]

    @staticmethod
    def of_catalogue() -> _Layout:
        entries = []
        for spec in CATALOGUE:
            template, order = _template(spec)
            entries.append((template, order, order == tuple(range(len(order)))))
        return _Layout(tuple(entries))


def escape_label_value(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return value


class SampleWriter:
    """Catalogue samples -> text lines, grouped by family (index into CATALOGUE)."""

    def __init__(self) -> None:
        self._layout = _Layout.of_catalogue()
        self._values: dict[float, str] = {}

    def value(self, value: float) -> str:
        # 0.0 and -0.0 are equal keys but print differently: never cache zero.
        if not value:
            return go_float(value)
        text = self._values.get(value)
        if text is None:
            if len(self._values) > 4096:   # values drift (temperatures, times): stay bounded
                self._values.clear()
            text = self._values[value] = go_float(value)
        return text

    def lines(self, samples: Iterable[Sample]) -> dict[int, str]:
        """{catalogue index: the samples' lines, in the order given}."""
        return {index: self._format(group) for index, group in _grouped(samples).items()}

    def lines_reusing(self, samples: Iterable[Sample],
                      previous: Mapping[int, Family] | None) -> dict[int, Family]:
        """As lines(), keeping each family's samples beside its lines: a family whose
        samples equal the previous rendering's takes its lines from there. A printer that
        reported changes a few of its ~25 families (a temperature, its last report time),
        so most of its lines are not written again. (Equal samples: 0.0 and -0.0 are
        equal, so a value turning into the other keeps its old spelling.)"""
        out: dict[int, Family] = {}
        for index, group in _grouped(samples).items():
            before = previous.get(index) if previous is not None else None
            if before is not None and before[0] == group:
                out[index] = before
            else:
                out[index] = (group, self._format(group))
        return out

    def _format(self, samples: list[Sample]) -> str:
        templates = self._layout.templates
        cached = self._values
        lines = []
        # ~64 samples a printer, re-rendered whenever it reports: the common cases
        # (a cached value, labels needing no escape, already in order) come first.
        for name, labels, value in samples:
            template, order, in_order = templates[FAMILY_INDEX[name]]
            text = cached.get(value) if value else None
            if text is None:
                text = self.value(value)
            if order:
                joined = "".join(labels)
                if "\\" in joined or "\n" in joined or '"' in joined:
                    line = template % (*[escape_label_value(labels[i]) for i in order], text)
                elif in_order:
                    line = template % (*labels, text)
                else:
                    line = template % (*[labels[i] for i in order], text)
            else:
                line = template % text
            lines.append(line)
        return "".join(lines)


Family = tuple[list[Sample], str]   # one family's samples of one printer, and their lines


def _grouped(samples: Iterable[Sample]) -> dict[int, list[Sample]]:
    """Samples by catalogue index, each family's in the order given."""
    grouped: dict[int, list[Sample]] = {}
    for sample in samples:
        index = FAMILY_INDEX[sample[0]]
        bucket = grouped.get(index)
        if bucket is None:
            grouped[index] = [sample]
        else:
            bucket.append(sample)
    return grouped


@dataclass(frozen=True)
class FleetLines:
    """Every printer's lines: one string per CATALOGUE entry ("" where none), and how
    many printers could not be rendered (left out)."""
    chunks: tuple[str, ...]
    printers: int = 0
    failed: int = 0

    @staticmethod
    def empty() -> FleetLines:
        return FleetLines(tuple("" for _ in CATALOGUE))

    @staticmethod
    def join(parts: Iterable[FleetLines]) -> FleetLines:
        """Parts of disjoint printer sets, one after another under each family."""
        parts = list(parts)
        chunks = tuple("".join(part.chunks[i] for part in parts) for i in range(len(CATALOGUE)))
        return FleetLines(chunks, sum(p.printers for p in parts), sum(p.failed for p in parts))


OnError = Callable[[PrinterStatus, Exception], None]


class PrinterLines:
    """Renders printers' statuses into FleetLines, re-rendering only the printers whose
    status changed since the last render. Not thread-safe: one caller at a time."""

    def __init__(self, on_error: OnError | None = None,
                 texts: TextLookup | None = None) -> None:
        self._writer = SampleWriter()
        self._on_error = on_error
        self._texts = texts   # descriptions of HMS and print error codes, if loaded
        self._generation = texts.generation if texts is not None else 0
        self._cache: dict[str, tuple[PrinterStatus, dict[int, Family]]] = {}
        self.rendered = 0    # printers rendered afresh (the rest came from the cache)
        self.changed: list[PrinterStatus] = []   # the last render's fresh ones

    def render(self, statuses: Iterable[PrinterStatus]) -> FleetLines:
        parts: list[list[str]] = [[] for _ in CATALOGUE]
        cache: dict[str, tuple[PrinterStatus, dict[int, Family]]] = {}
        old = self._cache
        texts = self._texts
        describe = texts.describe if texts is not None else no_text
        if texts is not None and texts.generation != self._generation:
            old, self._generation = {}, texts.generation   # descriptions changed: re-render
        printers = failed = 0
        changed: list[PrinterStatus] = []
        for status in statuses:
            entry = old.get(status.serial)
            if entry is None or (entry[0] is not status and entry[0] != status):
                try:
                    samples = renderable_samples(status, describe)
                    entry = (status, self._writer.lines_reusing(
                        samples, entry[1] if entry is not None else None))
                except Exception as exc:  # noqa: BLE001 - one printer's bad data, not the scrape
                    failed += 1
                    if self._on_error is not None:
                        self._on_error(status, exc)
                    continue
                self.rendered += 1
                changed.append(status)
            cache[status.serial] = entry
            printers += 1
            for index, family in entry[1].items():
                parts[index].append(family[1])
        self._cache = cache
        self.changed = changed
        return FleetLines(tuple("".join(part) for part in parts), printers, failed)


def rendered_families(chunks: Iterable[str | Sequence[str]]) -> list[RenderedFamily]:
    """One family per CATALOGUE entry, in catalogue order, around its lines (a string,
    or the pieces of several parts, one after another)."""
    return [RenderedFamily(spec.name.removesuffix("_total") if spec.kind == "counter"
                           else spec.name, spec.help, spec.kind, spec.name,
                           spec.label_names, chunk)
            for spec, chunk in zip(CATALOGUE, chunks, strict=True)]
