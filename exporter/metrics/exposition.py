"""The /metrics exposition, byte-identical to prometheus_client's and several times faster.

client_python formats every sample in generic code; here what depends only on a sample's
name is worked out once per family, each `name="value"` pair is escaped once per render,
and each distinct value formatted once. RenderedFamily carries lines written beforehand
(metrics.printer_lines). Families the fast path does not handle (histograms, summaries,
timestamps, exemplars) are formatted by prometheus_client itself, so the output stays
right for anything (docs/architecture.md has the measurements).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, Protocol

from prometheus_client.exposition import generate_latest as _client_text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as _om
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from prometheus_client.validation import _is_valid_legacy_metric_name

UNDERSCORES = _om.UNDERSCORES
ALLOWUTF8 = _om.ALLOWUTF8
OPENMETRICS_VERSION = "1.0.0"

# Family types the fast path formats; the text format's type word for each and the
# suffix it appends to the family name in HELP/TYPE (as generate_latest munges them).
_TEXT_TYPE = {"gauge": "gauge", "counter": "counter", "info": "gauge", "unknown": "untyped"}
_TEXT_SUFFIX = {"counter": "_total", "info": "_info"}
_OM_TYPES = frozenset(("gauge", "counter", "info", "unknown"))
# Samples the text format moves into a gauge block of their own after the family.
_TEXT_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
# The fast path unpacks samples positionally; a different Sample shape disables it.
_FAST = Sample._fields == ("name", "labels", "value", "timestamp", "exemplar",
                           "native_histogram")


class RenderedFamily(Metric):
    """A gauge or counter family whose sample lines are already written (by
    metrics.printer_lines), for render() to copy after the family's HELP/TYPE: a string
    or a sequence of strings (parts rendered apart, copied one after another, not joined
    first: a thousand printers' lines are megabytes).

    Its sample names and label names must need no escaping (legacy names), so the lines
    are right in both formats under every scheme. prometheus_client sees an ordinary
    family: `samples` is parsed back from the lines on first use, and the `name[]`
    filter keeps or drops the family whole (all its samples share one name)."""

    def __init__(self, name: str, documentation: str, typ: str, sample_name: str,
                 label_names: tuple[str, ...], lines: str | Sequence[str]) -> None:
        self._parsed: list[Sample] | None = None
        super().__init__(name, documentation, typ)
        if typ not in ("gauge", "counter"):
            raise ValueError(f"RenderedFamily {name}: type {typ} is not gauge or counter")
        self.sample_name = sample_name
        self.label_names = label_names
        self.pieces: tuple[str, ...] = (lines,) if isinstance(lines, str) else tuple(lines)

    @property
    def samples(self) -> list[Sample]:
        if self._parsed is None:
            self._parsed = _parse_lines(self.sample_name, self.type, "".join(self.pieces))
        return self._parsed

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._parsed = value or None

    def _restricted_metric(self, names: Any) -> Any:
        return self if any(self.pieces) and self.sample_name in names else None


def _parse_lines(sample_name: str, typ: str, lines: str) -> list[Sample]:
    if not lines:
        return []
    from prometheus_client.parser import text_string_to_metric_families
    text = f"# TYPE {sample_name} {typ}\n{lines}"
    return [Sample(s.name, s.labels, s.value, None, None, None)
            for family in text_string_to_metric_families(text) for s in family.samples]


def go_float(value: float) -> str:
    """A sample value as both formats write it (prometheus_client's floatToGoString)."""
    text: str = floatToGoString(value)
    return text


class Collector(Protocol):
    def collect(self) -> Iterable[Any]: ...


class _Fallback(Exception):
    """This family is for prometheus_client to format."""


class _One:
    """A collector of one already-collected family, for prometheus_client's formatters."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric

    def collect(self) -> list[Any]:
        return [self._metric]


class _Caches:
    """What one render looks up instead of recomputing, filled on first use."""

    def __init__(self, escaping: str) -> None:
        self.escaping = escaping
        self.label_names = _LabelNames(escaping)
        self.label_values = _LabelValues()
        self.pairs = _Pairs(self.label_names, self.label_values)
        self.values = _Values()


class _LabelNames(dict):  # type: ignore[type-arg]
    """Label name -> the scheme's escape_label_name of it."""

    def __init__(self, escaping: str) -> None:
        super().__init__()
        self._escaping = escaping

    def __missing__(self, name: str) -> str:
        out = self[name] = _om.escape_label_name(name, self._escaping)
        return out


class _LabelValues(dict):  # type: ignore[type-arg]
    """Label value -> escaped: backslash, newline and double quote, as both formats do
    in every scheme (label values always allow UTF-8)."""

    def __missing__(self, value: str) -> str:
        out = self[value] = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
        return out


class _Pairs(dict):  # type: ignore[type-arg]
    """(label name, label value) -> 'name="escaped value"', for samples whose label names
    differ from the first sample of the same name in their family."""

    def __init__(self, names: _LabelNames, values: _LabelValues) -> None:
        super().__init__()
        self._names = names
        self._values = values

    def __missing__(self, pair: tuple[str, str]) -> str:
        key, value = pair
        out = self[pair] = f'{self._names[key]}="{self._values[value]}"'
        return out


class _Values(dict):  # type: ignore[type-arg]
    """Non-zero float -> floatToGoString(value).

    Only non-zero floats are looked up: 0.0 and -0.0 are equal keys but print
    differently, and other types go to floatToGoString directly."""

    def __missing__(self, value: float) -> str:
        out = self[value] = floatToGoString(value)
        return out


def render(registry: Collector, openmetrics: bool, escaping: str = UNDERSCORES,
           version: str = OPENMETRICS_VERSION) -> bytes:
    """Collect `registry` once and render it: the Prometheus text format, or OpenMetrics
    when `openmetrics`. Same bytes as prometheus_client's generate_latest for the same
    escaping (and OpenMetrics version)."""
    caches = _Caches(escaping)
    out: list[str] = []
    family = _om_family if openmetrics else _text_family
    for metric in registry.collect():
        mark = len(out)
        try:
            if not _FAST:
                raise _Fallback
            family(metric, out, caches)
        except Exception:  # noqa: BLE001 - prometheus_client decides, and raises its own
            del out[mark:]
            if openmetrics:
                text = _om.generate_latest(_One(metric), escaping=escaping, version=version)
                out.append(text.decode("utf-8").removesuffix("# EOF\n"))
            else:
                out.append(_client_text(_One(metric), escaping=escaping).decode("utf-8"))
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def _text_family(metric: Any, out: list[str], caches: _Caches) -> None:
    mtype = metric.type
    type_word = _TEXT_TYPE.get(mtype)
    if type_word is None:
        raise _Fallback
    escaping = caches.escaping
    family = metric.name
    name = _om.escape_metric_name(family + _TEXT_SUFFIX.get(mtype, ""), escaping)
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    out.append(f"# HELP {name} {doc}\n# TYPE {name} {type_word}\n")
    if metric.__class__ is RenderedFamily:
        _rendered_lines(metric, out, escaping, False)
        return
    moved: dict[str, list[str]] = {}     # _created/_gsum/_gcount lines, by suffix

    def heads(sample_name: str) -> tuple[str, str, list[str]]:
        escaped = _om.escape_metric_name(sample_name, escaping)
        target = out
        for suffix in _TEXT_OM_SUFFIXES:
            if sample_name == family + suffix:
                target = moved.setdefault(suffix, [])
                break
        if escaping != ALLOWUTF8 or _is_valid_legacy_metric_name(sample_name):
            return f"{escaped}{{", f"{escaped} ", target
        return f"{{{escaped},", f"{{{escaped}}} ", target

    _sample_lines(metric.samples, heads, caches, False)
    for suffix, lines in sorted(moved.items()):
        extra = _om.escape_metric_name(family + suffix, escaping)
        out.append(f"# HELP {extra} {doc}\n# TYPE {extra} gauge\n")
        out.extend(lines)


def _om_family(metric: Any, out: list[str], caches: _Caches) -> None:
    mtype = metric.type
    if mtype not in _OM_TYPES:
        raise _Fallback
    escaping = caches.escaping
    name = _om.escape_metric_name(metric.name, escaping)
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    out.append(f"# HELP {name} {doc}\n# TYPE {name} {mtype}\n")
    if metric.unit:
        out.append(f"# UNIT {name} {metric.unit}\n")
    if metric.__class__ is RenderedFamily:
        _rendered_lines(metric, out, escaping, True)
        return

    def heads(sample_name: str) -> tuple[str, str, list[str]]:
        if escaping != ALLOWUTF8 or _is_valid_legacy_metric_name(sample_name):
            # Sample names go through _escape with the label-name rune set, not
            # escape_metric_name (so a ':' becomes '_' here but not in HELP/TYPE).
            escaped = _om._escape(sample_name, escaping, _om._is_legacy_labelname_rune)
            return f"{escaped}{{", f"{escaped} ", out
        quoted = _om.escape_metric_name(sample_name, escaping)
        return f"{{{quoted},", f"{{{quoted}}} ", out

    _sample_lines(metric.samples, heads, caches, True)


def _rendered_lines(metric: RenderedFamily, out: list[str], escaping: str,
                    openmetrics: bool) -> None:
    # The lines hold the names as written: right wherever the scheme leaves them so
    # (for the catalogue's names: every scheme but "dots", and "values" in OpenMetrics).
    # Otherwise prometheus_client formats the family from its parsed samples.
    expected = metric.name + ("_total" if metric.type == "counter" else "")
    if metric.sample_name != expected or not _PLAIN_NAME.fullmatch(expected):
        raise _Fallback
    if (_om.escape_metric_name(expected, escaping) != expected
            or (openmetrics and _om._escape(expected, escaping,
                                            _om._is_legacy_labelname_rune) != expected)
            or any(_om.escape_label_name(label, escaping) != label
                   for label in metric.label_names)):
        raise _Fallback
    out.extend(metric.pieces)


# Names that print unquoted in both formats (no colons: OpenMetrics sample names lose them).
_PLAIN_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


# A sample name's shape in one family, as a list:
# [head before labels, head without labels, list the lines go to,
#  label count, getter of the label values in sorted-name order, line template]
# The last three come from the first labelled sample of that name; a later sample with
# other label names takes the general path (sorted items through the pairs cache).
_HEAD, _BARE, _TARGET, _COUNT, _GET, _TEMPLATE = range(6)
_NO_NAME = object()


def _sample_lines(samples: Iterable[Any],
                  heads: Callable[[str], tuple[str, str, list[str]]],
                  caches: _Caches, none_is_empty: bool) -> None:
    shapes: dict[str, list[Any]] = {}
    values = caches.values
    escaped = caches.label_values.__getitem__
    pairs = caches.pairs
    last_name: Any = _NO_NAME
    shape: list[Any] = []
    for sample_name, labels, value, timestamp, exemplar, native in samples:
        if timestamp is not None or exemplar is not None or native is not None:
            raise _Fallback
        if value.__class__ is float:
            text = values[value] if value else repr(value)
        elif value is None and none_is_empty:
            text = ""
        else:
            text = floatToGoString(value)
        if sample_name is not last_name:
            known = shapes.get(sample_name)
            if known is None:
                known = shapes[sample_name] = [*heads(sample_name), -1, None, ""]
            shape = known
            last_name = sample_name
        if not labels:
            shape[_TARGET].append(f"{shape[_BARE]}{text}\n")
            continue
        count = len(labels)
        if shape[_COUNT] < 0:
            _learn(shape, labels, caches.label_names)
        if count == shape[_COUNT]:
            try:
                picked = shape[_GET](labels)
            except KeyError:
                picked = None   # same count, other names
            if picked is not None:
                if count == 1:
                    line = shape[_TEMPLATE] % (escaped(picked), text)
                else:
                    line = shape[_TEMPLATE] % (*map(escaped, picked), text)
                shape[_TARGET].append(line)
                continue
        shape[_TARGET].append(
            f"{shape[_HEAD]}{','.join([pairs[p] for p in sorted(labels.items())])}}} {text}\n")


def _learn(shape: list[Any], labels: Any, label_names: _LabelNames) -> None:
    names = sorted(labels)
    shape[_COUNT] = len(names)
    shape[_GET] = itemgetter(*names)
    pieces = [f'{shape[_HEAD]}{label_names[names[0]]}="']
    pieces += [f'",{label_names[name]}="' for name in names[1:]]
    pieces += ['"} ', "\n"]
    shape[_TEMPLATE] = "%s".join(piece.replace("%", "%%") for piece in pieces)


def encoder_for(client_encoder: Callable[..., bytes]) -> Callable[[Collector], bytes]:
    """Our equivalent of an encoder prometheus_client's choose_encoder picked (its text or
    OpenMetrics generate_latest, maybe with escaping/version keywords); anything else is
    returned unchanged."""
    func: Any = client_encoder
    args: tuple[Any, ...] = ()
    keywords: dict[str, Any] = {}
    if isinstance(client_encoder, functools.partial):
        func, args, keywords = client_encoder.func, client_encoder.args, dict(client_encoder.keywords)
    if args or not set(keywords) <= {"escaping", "version"}:
        return client_encoder
    escaping = keywords.get("escaping", UNDERSCORES)
    if func is _client_text and "version" not in keywords:
        return lambda registry: render(registry, False, escaping)
    if func is _om.generate_latest:
        version = keywords.get("version", OPENMETRICS_VERSION)
        return lambda registry: render(registry, True, escaping, version)
    return client_encoder
