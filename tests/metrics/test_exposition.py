"""exporter.exposition renders the same bytes as prometheus_client, and /metrics serves
them as prometheus_client's make_wsgi_app would (negotiation, headers, gzip, name[])."""

from __future__ import annotations

import gzip
import http.client
import math
import random
import string
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)
from prometheus_client.samples import Exemplar

from exporter.http_server.server import WebServer
from exporter.metrics import exposition
from exporter.metrics.catalogue import (
    families,
)
from exporter.metrics.exposition import render
from exporter.web.app import make_app
from tests.metrics.test_catalogue import golden_samples

pytestmark = pytest.mark.tier("unit")

ESCAPINGS = ("underscores", "allow-utf-8", "dots", "values")


class Fixed:
    """A collector of fixed, already-built families."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics

    def describe(self) -> list[Metric]:
        # As FleetCollector does: lets the registry map names to it, which name[] needs.
        return self.metrics


def registry_of(metrics: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(Fixed(metrics))
    return registry


def assert_identical(metrics: list[Metric], escapings: tuple[str, ...] = ESCAPINGS) -> None:
    """render == prometheus_client, both formats, every escaping scheme."""
    registry = registry_of(metrics)
    for escaping in escapings:
        expected = generate_latest(registry, escaping=escaping)
        got = render(registry, False, escaping)
        assert got == expected, f"text, {escaping}:\n{_first_diff(expected, got)}"
        expected = generate_openmetrics(registry, escaping=escaping)
        got = render(registry, True, escaping)
        assert got == expected, f"openmetrics, {escaping}:\n{_first_diff(expected, got)}"


def assert_fast_path(metrics: list[Metric]) -> None:
    """Every family goes through our own formatting, not the fallback, and that alone
    gives prometheus_client's bytes (so identity is not the fallback's doing)."""
    for escaping in ESCAPINGS:
        caches = exposition._Caches(escaping)
        text: list[str] = []
        om: list[str] = []
        for metric in metrics:
            exposition._text_family(metric, text, caches)
            exposition._om_family(metric, om, caches)
        registry = registry_of(metrics)
        assert "".join(text).encode() == generate_latest(registry, escaping=escaping)
        assert "".join(om + ["# EOF\n"]).encode() == generate_openmetrics(registry,
                                                                           escaping=escaping)


def _first_diff(expected: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(expected.splitlines(), got.splitlines(), strict=False)):
        if a != b:
            return f"line {i}: expected {a!r}\n        got {b!r}"
    return f"lengths {len(expected)} != {len(got)}"


# ------------------------------------------------------------------ fixtures of families

def golden_families() -> list[Metric]:
    return families(golden_samples())   # the golden file's printers, HMS texts included


def process_families() -> list[Metric]:
    """The process, platform and GC collectors' families, collected once (frozen) so
    both renderers see the same values."""
    live = CollectorRegistry()
    ProcessCollector(registry=live)
    PlatformCollector(registry=live)
    GCCollector(registry=live)
    metrics = list(live.collect())
    assert {m.name for m in metrics} >= {"process_cpu_seconds", "python_info",
                                         "python_gc_objects_collected"}
    return metrics


AWKWARD_VALUES = ['say "hi"', "back\\slash", "new\nline", "ends with \\", 'mixed \\"\n',
                  "Drücker ✓ 打印机 🖨", "", " ", "%s %d %%", "{}", "a,b=c", "\t\r"]


def awkward_families() -> list[Metric]:
    g = GaugeMetricFamily("awkward_labels", "Label values that need escaping.",
                          labels=["printer", "serial", "note"])
    for i, value in enumerate(AWKWARD_VALUES):
        g.add_metric([value, f"S{i}", value[::-1]], i)
    one = GaugeMetricFamily("awkward_one_label", "One label.", labels=["v"])
    for value in AWKWARD_VALUES:
        one.add_metric([value], 1)
    return [g, one]


def help_families() -> list[Metric]:
    return [GaugeMetricFamily("help_escapes", 'Back\\slash, new\nline, "quotes", ünï', value=1),
            GaugeMetricFamily("help_empty", "", value=2),
            CounterMetricFamily("help_counter", "trailing backslash \\", value=3)]


SPECIAL_VALUES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-9, 123456789012345678,
                  123456789012345678.0, 1234567.0, -1234567.0, 999999.0, 1e6, 1e16, 1e22,
                  0.1, 1 / 3, -2.5e-300, 5e-324, 1.7976931348623157e308, 1, 0, -3, True,
                  2 ** 70]


def value_families() -> list[Metric]:
    g = GaugeMetricFamily("values_gauge", "Values.", labels=["i"])
    for i, value in enumerate(SPECIAL_VALUES):
        g.add_metric([str(i)], value)
    c = CounterMetricFamily("values_counter", "Values.", labels=["i"])
    for i, value in enumerate(SPECIAL_VALUES):
        if not (isinstance(value, float) and math.isnan(value)) and value >= 0:
            c.add_metric([str(i)], value)
    bare = [GaugeMetricFamily(f"values_bare_{i}", "One value.", value=v)
            for i, v in enumerate(SPECIAL_VALUES)]
    return [g, c, *bare]


def type_families() -> list[Metric]:
    with_total = CounterMetricFamily("jobs_total", "Named with _total.", labels=["result"])
    with_total.add_metric(["ok"], 4)
    without = CounterMetricFamily("connects", "Named without _total.", value=2)
    created = CounterMetricFamily("restarts", "With _created.", labels=["why"])
    created.add_metric(["oom"], 3, created=1764000000.25)
    created.add_metric(["signal"], 1, created=1764000100.0)
    info = InfoMetricFamily("build", "Build information.",
                            value={"version": "0.1.0", "commit": 'a"b\\c'})
    info_labelled = InfoMetricFamily("firmware", "Firmware per printer.", labels=["printer"])
    info_labelled.add_metric(["x1c"], {"ota": "01.09", "ams": "00.00"})
    untyped = UnknownMetricFamily("legacy_thing", "Untyped.", labels=["k"])
    untyped.add_metric(["v"], 7.5)
    unit = GaugeMetricFamily("nozzle_celsius", "With a unit.", labels=["n"], unit="celsius")
    unit.add_metric(["0"], 219.5)
    counter_unit = CounterMetricFamily("uptime_seconds", "Counter with a unit.", value=12.0,
                                       unit="seconds")
    empty = GaugeMetricFamily("no_samples", "A family without samples.", labels=["x"])
    return [with_total, without, created, info, info_labelled, untyped, unit, counter_unit,
            empty]


def name_families() -> list[Metric]:
    """Names outside the legacy character set: escaped or quoted by the scheme."""
    colon = GaugeMetricFamily("ns:ratio_by:job", "Colons.", labels=["job"])
    colon.add_metric(["a"], 1)
    utf8 = GaugeMetricFamily("temperatura.boquilla_°C", "UTF-8 name.",
                             labels=["impresora", "número.de.serie"])
    utf8.add_metric(["x1c", "0001"], 210.0)
    utf8_bare = GaugeMetricFamily("día.únicó", "UTF-8 name, no labels.", value=1)
    counter = CounterMetricFamily("eventos.totales", "UTF-8 counter.", labels=["tipo"])
    counter.add_metric(["a"], 1)
    reserved = GaugeMetricFamily("reserved_label", "Label names.",
                                 labels=["__reserved", "_under", "l1", "UPPER", "x.y"])
    reserved.add_metric(["1", "2", "3", "4", "5"], 1)
    percent = GaugeMetricFamily("per%cent", "A % in names.", labels=["a%sb"])
    percent.add_metric(["%s"], 1)
    return [colon, utf8, utf8_bare, counter, reserved, percent]


def mixed_label_families() -> list[Metric]:
    """Samples of one name with different label names: the general path."""
    m = Metric("mixed", "Label sets differ within the family.", "gauge")
    m.add_sample("mixed", {"b": "1", "a": "2"}, 1.0)
    m.add_sample("mixed", {"a": "x", "b": "y"}, 2.0)
    m.add_sample("mixed", {"a": "only a"}, 3.0)
    m.add_sample("mixed", {"c": "1", "a": "2"}, 4.0)       # same count, other names
    m.add_sample("mixed", {}, 5.0)
    m.add_sample("mixed", {"z": "1", "y": "2", "x": "3"}, 6.0)
    m.add_sample("mixed_created", {"a": "1"}, 7.0)          # a gauge's _created sample
    return [m]


def fallback_families() -> list[Metric]:
    h = HistogramMetricFamily("print_duration_seconds", "Histogram.", labels=["model"])
    h.add_metric(["X1C"], buckets=[("60", 1), ("3600", 5), ("+Inf", 6)], sum_value=9000.5)
    s = SummaryMetricFamily("scrape_seconds", "Summary.", count_value=4, sum_value=0.2)
    gh = GaugeHistogramMetricFamily("queue", "Gauge histogram.",
                                    buckets=[("1", 2), ("+Inf", 3)], gsum_value=4)
    ss = StateSetMetricFamily("mode", "State set.", value={"a": True, "b": False})
    ts = GaugeMetricFamily("with_timestamp", "A sample with a timestamp.", labels=["k"])
    ts.add_metric(["v"], 1.5, timestamp=1764000000.123)
    ts.add_metric(["w"], 2.5)
    ex = Metric("with_exemplar", "A counter sample with an exemplar.", "counter")
    ex.add_sample("with_exemplar_total", {"k": "v"}, 3.0,
                  exemplar=Exemplar({"trace_id": "abc"}, 1.0, 1764000000.0))
    return [h, s, gh, ss, ts, ex]


# ------------------------------------------------------------------ byte identity

def test_golden_families_identical_and_fast() -> None:
    metrics = golden_families()
    assert sum(len(m.samples) for m in metrics) > 150
    assert_identical(metrics)
    assert_fast_path(metrics)


def test_golden_families_match_the_checked_in_golden_file() -> None:
    from tests.metrics.test_catalogue import GOLDEN
    assert render(registry_of(golden_families()), False).decode() == GOLDEN.read_text()


def test_process_platform_gc_collectors() -> None:
    metrics = process_families()
    assert_identical(metrics)
    assert_fast_path(metrics)


def test_live_registry_with_standard_collectors() -> None:
    # Unfrozen: both render from a live registry; values that move between the two
    # collects (CPU time, memory, GC counts) are blanked before comparing.
    registry = CollectorRegistry()
    registry.register(Fixed(golden_families()))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)

    def shape(text: bytes) -> list[bytes]:
        return [line.rsplit(b" ", 1)[0] if line.startswith((b"process_", b"python_gc"))
                else line for line in text.splitlines()]
    assert shape(render(registry, False)) == shape(generate_latest(registry))
    assert shape(render(registry, True)) == shape(generate_openmetrics(registry))


def test_awkward_label_values() -> None:
    metrics = awkward_families()
    assert_identical(metrics)
    assert_fast_path(metrics)
    text = render(registry_of(metrics), False).decode()
    assert r'printer="say \"hi\""' in text and r'note="enil\nwen"' in text


def test_help_text_escapes() -> None:
    assert_identical(help_families())
    assert_fast_path(help_families())


def test_special_values() -> None:
    metrics = value_families()
    assert_identical(metrics)
    assert_fast_path(metrics)
    text = render(registry_of(metrics), False).decode()
    for expected in ("NaN", "+Inf", "-Inf", "-0.0", "1e-09", "1.2345678901234568e+17",
                     "1.234567e+06", "999999.0"):
        assert f" {expected}\n" in text, expected


def test_counter_info_untyped_unit_and_created() -> None:
    metrics = type_families()
    assert_identical(metrics)
    assert_fast_path(metrics)
    text = render(registry_of(metrics), False).decode()
    assert "# TYPE jobs_total counter\n" in text and "# TYPE connects_total counter\n" in text
    assert "# TYPE build_info gauge\n" in text and "# TYPE legacy_thing untyped\n" in text
    assert "# TYPE restarts_created gauge\n" in text
    om = render(registry_of(metrics), True).decode()
    assert "# UNIT nozzle_celsius celsius\n" in om and om.endswith("# EOF\n")


def test_names_needing_escaping_or_quotes() -> None:
    metrics = name_families()
    assert_identical(metrics)
    assert_fast_path(metrics)
    utf8 = render(registry_of(metrics), True, "allow-utf-8").decode()
    assert '{"temperatura.boquilla_°C",impresora="x1c","número.de.serie"="0001"} 210.0' in utf8


def test_label_sets_differing_within_a_family() -> None:
    assert_identical(mixed_label_families())
    assert_fast_path(mixed_label_families())


def test_fallback_families_identical() -> None:
    metrics = fallback_families()
    assert_identical(metrics)
    for metric in metrics:   # each really is left to prometheus_client
        with pytest.raises(exposition._Fallback):
            exposition._text_family(metric, [], exposition._Caches("underscores"))
        with pytest.raises(exposition._Fallback):
            exposition._om_family(metric, [], exposition._Caches("underscores"))


def test_everything_together_in_one_registry() -> None:
    assert_identical(golden_families() + process_families() + awkward_families()
                     + help_families() + value_families() + type_families()
                     + name_families() + mixed_label_families() + fallback_families())


def test_openmetrics_version_passes_through() -> None:
    registry = registry_of(type_families() + fallback_families())
    for version in ("1.0.0", "2.0.0"):
        assert render(registry, True, "underscores", version) == \
            generate_openmetrics(registry, escaping="underscores", version=version)


def test_errors_are_prometheus_clients() -> None:
    bad = Metric("bad", "A label value that is not a string.", "gauge")
    bad.add_sample("bad", {"k": 5}, 1.0)   # type: ignore[dict-item]
    none_value = Metric("none_value", "A value of None.", "gauge")
    none_value.add_sample("none_value", {}, None)   # type: ignore[arg-type]
    for metric in (bad, none_value):
        registry = registry_of([metric])
        for openmetrics in (False, True):
            theirs = generate_openmetrics if openmetrics else generate_latest
            try:
                expected: Any = theirs(registry)
            except Exception as exc:  # noqa: BLE001 - whatever prometheus_client raises
                with pytest.raises(type(exc)):
                    render(registry, openmetrics)
            else:
                assert render(registry, openmetrics) == expected


# ------------------------------------------------------------------ property-style

LABEL_NAMES = ["printer", "serial", "sensor", "a", "b", "zz", "_x", "__r", "UPPER", "l1",
               "dotted.name", "ünï", "with space"]
METRIC_NAMES = ["bambu_thing", "x", "ns:sub:name", "_leading", "a1", "dotted.metric",
                "ünïcode_metric", "with space", "Upper_Case"]
CHARS = string.ascii_letters + string.digits + ' _-.:,="\\\n\t{}%#äöü✓🖨'


def random_value(rnd: random.Random) -> Any:
    kind = rnd.randrange(8)
    if kind == 0:
        return rnd.choice(SPECIAL_VALUES)
    if kind == 1:
        return float(rnd.randint(-10 ** 9, 10 ** 9))
    if kind == 2:
        return rnd.randint(0, 10 ** rnd.randint(0, 20))
    if kind == 3:
        return rnd.uniform(-1e6, 1e6) * 10 ** rnd.randint(-12, 12)
    if kind == 4:
        return rnd.choice([0.0, 1.0, 0.0, 1.0, 0.5])
    return round(rnd.uniform(0, 300), rnd.randint(0, 3))


def random_family(rnd: random.Random, index: int) -> Metric:
    base = f"{rnd.choice(METRIC_NAMES)}_{index}"
    kind = rnd.choice(["gauge", "gauge", "counter", "info", "unknown", "histogram"])
    doc = "".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 12)))
    names = rnd.sample(LABEL_NAMES, rnd.randint(0, 4))
    if kind == "info":
        family: Metric = InfoMetricFamily(base, doc, labels=names)
    elif kind == "counter":
        family = CounterMetricFamily(base + rnd.choice(["", "_total"]), doc, labels=names)
    elif kind == "unknown":
        family = UnknownMetricFamily(base, doc, labels=names)
    elif kind == "histogram":
        family = HistogramMetricFamily(base, doc, labels=names)
    else:
        family = GaugeMetricFamily(base, doc, labels=names,
                                   unit=rnd.choice(["", "", "seconds"]))
    values_pool = ["".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 8)))
                   for _ in range(6)]
    for _ in range(rnd.randint(0, 12)):
        labels = [rnd.choice(values_pool) for _ in names]
        if kind == "info":
            family.add_metric(labels, {"version": rnd.choice(values_pool),
                                       "extra_key": rnd.choice(values_pool)})
        elif kind == "counter":
            family.add_metric(labels, abs(random_value(rnd)),
                              created=rnd.choice([None, None, 1764000000.5]))
        elif kind == "histogram":
            family.add_metric(labels, buckets=[("1", 1), ("+Inf", 2)], sum_value=3)
        else:
            family.add_metric(labels, random_value(rnd),
                              timestamp=rnd.choice([None] * 9 + [1764000000.5]))
    if kind == "gauge" and rnd.random() < 0.2:   # a stray sample with other labels
        family.add_sample(family.name, {"other": rnd.choice(values_pool)}, 1.0)
    return family


@pytest.mark.parametrize("seed", range(40))
def test_random_families(seed: int) -> None:
    rnd = random.Random(seed)
    metrics = [random_family(rnd, i) for i in range(rnd.randint(1, 15))]
    assert_identical(metrics)


# ------------------------------------------------------------------ HTTP

def http_families() -> list[Metric]:
    return (golden_families() + type_families() + name_families() + awkward_families()
            + fallback_families()[:2])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[WebServer, CollectorRegistry]]:
    registry = registry_of(http_families())
    server = WebServer(make_app(registry, list, "test list"), "127.0.0.1", 0)
    server.start()
    try:
        yield server, registry
    finally:
        server.stop()


def fetch(server: WebServer, target: str, headers: dict[str, str],
          method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, target, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def client_python(registry: CollectorRegistry, target: str, headers: dict[str, str],
                  method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """What prometheus_client's make_wsgi_app answers to the same request."""
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                               "QUERY_STRING": query}
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {k.lower(): v for k, v in response_headers}

    body = b"".join(make_wsgi_app(registry)(environ, start_response))
    return answer["status"], answer["headers"], body


ACCEPTS = [
    None,
    "*/*",
    "text/plain",
    "text/plain;version=0.0.4;q=0.9,*/*;q=0.1",
    "text/plain; version=1.0.0",
    "text/plain; version=1.0.0; escaping=allow-utf-8",
    "text/plain; version=1.0.0; escaping=dots",
    "application/openmetrics-text",
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
    "application/openmetrics-text; version=1.0.0; escaping=values",
    "application/openmetrics-text; version=2.0.0",
    "application/json, application/openmetrics-text;version=1.0.0;q=0.9",
]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.tier("e2e")
def test_negotiation_matches_make_wsgi_app(served: tuple[WebServer, CollectorRegistry],
                                           accept: str | None) -> None:
    server, registry = served
    headers = {} if accept is None else {"Accept": accept}
    status, got_headers, body = fetch(server, "/metrics", headers)
    want_status, want_headers, want_body = client_python(registry, "/metrics", headers)
    assert status == want_status == 200
    assert got_headers["content-type"] == want_headers["content-type"]
    assert "content-encoding" not in got_headers
    assert body == want_body
    assert int(got_headers["content-length"]) == len(body)


@pytest.mark.tier("e2e")
def test_text_by_default_openmetrics_when_asked(
        served: tuple[WebServer, CollectorRegistry]) -> None:
    server, _ = served
    _, headers, text = fetch(server, "/metrics", {})
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE bambu_printer_up gauge\n" in text and b"# EOF" not in text
    _, headers, om = fetch(server, "/metrics",
                           {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["content-type"] == ("application/openmetrics-text; version=1.0.0; "
                                       "charset=utf-8; escaping=underscores")
    assert om.endswith(b"# EOF\n") and b"# UNIT nozzle_celsius celsius\n" in om


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate, gzip;q=0.8", "GZIP", "br, deflate"])
@pytest.mark.tier("e2e")
def test_gzip_round_trip(served: tuple[WebServer, CollectorRegistry], accept: str | None,
                         encoding: str) -> None:
    server, registry = served
    headers = {"Accept-Encoding": encoding}
    if accept:
        headers["Accept"] = accept
    _, got_headers, body = fetch(server, "/metrics", headers)
    _, want_headers, want_body = client_python(registry, "/metrics", headers)
    assert got_headers.get("content-encoding") == want_headers.get("content-encoding")
    assert got_headers["content-type"] == want_headers["content-type"]
    if want_headers.get("content-encoding") == "gzip":
        assert "gzip" in encoding.lower()
        assert gzip.decompress(body) == gzip.decompress(want_body)
    else:
        assert body == want_body


@pytest.mark.parametrize("query", [
    "name[]=bambu_printer_up",
    "name[]=bambu_printer_up&name[]=jobs_total&name[]=restarts_created",
    "name[]=build_info&name[]=nozzle_celsius",
    "name[]=print_duration_seconds_bucket",
    "name[]=does_not_exist",
    "other=1",
])
@pytest.mark.parametrize("accept", [None, "application/openmetrics-text; version=1.0.0"])
@pytest.mark.tier("e2e")
def test_name_filter_matches_make_wsgi_app(served: tuple[WebServer, CollectorRegistry],
                                           query: str, accept: str | None) -> None:
    server, registry = served
    headers = {} if accept is None else {"Accept": accept}
    _, _, body = fetch(server, "/metrics?" + query, headers)
    _, _, want_body = client_python(registry, "/metrics?" + query, headers)
    assert body == want_body
    if query == "name[]=bambu_printer_up":
        lines = [line for line in body.decode().splitlines() if not line.startswith("#")]
        assert len(lines) == 6 and all(line.startswith("bambu_printer_up{") for line in lines)


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "HEAD", "DELETE"])
@pytest.mark.tier("e2e")
def test_other_methods_match_make_wsgi_app(served: tuple[WebServer, CollectorRegistry],
                                           method: str) -> None:
    server, registry = served
    status, headers, body = fetch(server, "/metrics", {}, method)
    want_status, want_headers, want_body = client_python(registry, "/metrics", {}, method)
    assert status == want_status
    assert headers.get("allow") == want_headers.get("allow") == "OPTIONS,GET"
    if method != "HEAD":
        assert body == want_body
