"""HTTP: /metrics (--web.telemetry-path), /-/healthy (and /healthz, its older name),
/-/ready, / (a landing page with the fleet) and /printer/<serial> (one printer's page),
as one WSGI app.

/-/healthy says the process serves HTTP; /-/ready that it can answer a scrape truthfully:
the printer list was read once and every worker process answers (`ready` says why not).

/metrics behaves as client_python's make_wsgi_app (OPTIONS/405, text vs OpenMetrics and
the escaping scheme chosen from the Accept header by its own choose_encoder, gzip when
asked, the `name[]` filter through restricted_registry) but renders through
metrics.exposition, which writes the same bytes several times faster.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from exporter.metrics.catalogue import Describe, no_text
from exporter.metrics.exposition import encoder_for
from exporter.printer.status import PrinterStatus
from exporter.web.attention import DEFAULT_PLATE_WAITING
from exporter.web.html_parts import valid_serial
from exporter.web.landing_page import Filter, landing_page
from exporter.web.printer_page import not_found_page, printer_page

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def make_app(registry: CollectorRegistry, statuses: Callable[[], list[PrinterStatus]],
             source: str, clock: Callable[[], float] = time.time,
             inventory_up: Callable[[], bool] = lambda: True,
             shard_line: Callable[[], str] = lambda: "",
             after_scrape: Callable[[], None] = lambda: None,
             telemetry_path: str = "/metrics",
             ready: Callable[[], str | None] = lambda: None,
             describe: Describe = no_text,
             plate_waiting: float = DEFAULT_PLATE_WAITING,
             dashboard_template: str = "") -> Callable[..., Iterable[bytes]]:
    """`ready()` answers None when ready, else why not (shown in the 503's body);
    `dashboard_template` is --web.dashboard-url ("" for none)."""
    metrics_app = make_metrics_app(registry, after_scrape)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == telemetry_path:
            return metrics_app(environ, start_response)
        if path in HEALTHY_PATHS:   # /healthz keeps the body it always had
            return _plain(start_response, "200 OK", "Healthy\n" if path == "/-/healthy" else "ok\n")
        if path == READY_PATH:
            why = ready()
            if why is None:
                return _plain(start_response, "200 OK", "Ready\n")
            return _plain(start_response, "503 Service Unavailable", f"Not ready: {why}\n")
        if path == "/":
            wanted = Filter.of(parse_qs(environ.get("QUERY_STRING", "")))
            page = landing_page(statuses(), source, clock(), inventory_up(),
                                shard_line(), describe, wanted,
                                telemetry_path, dashboard_template, plate_waiting)
            return _html(environ, start_response, "200 OK", page)
        if path.startswith(PRINTER_PREFIX):
            serial = path[len(PRINTER_PREFIX):]
            # Only a serial's characters can name a printer: an encoded slash, a long or
            # odd name is not looked up at all. Another shard's printer is not ours.
            status = None
            if valid_serial(serial):
                status = next((s for s in statuses() if s.serial == serial), None)
            if status is None:
                return _html(environ, start_response, "404 Not Found",
                             not_found_page(serial[:MAX_SERIAL_SHOWN]))
            return _html(environ, start_response, "200 OK",
                         printer_page(status, clock(), describe, dashboard_template))
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: try {telemetry_path}, /-/healthy, /-/ready, / or "
                f"/printer/<serial>\n".encode()]

    return app


PRINTER_PREFIX = "/printer/"
MAX_SERIAL_SHOWN = 40   # characters of an unknown serial the 404 page repeats


def _html(environ: Environ, start_response: StartResponse, status: str,
          text: str) -> Iterable[bytes]:
    page = text.encode()
    headers = [("Content-Type", "text/html; charset=utf-8")]
    # 1000 printers: ~450 KiB of HTML, ~45 KiB gzipped
    if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
        page = gzip.compress(page, GZIP_LEVEL)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(len(page))))
    start_response(status, headers)
    return [page]


HEALTHY_PATHS = ("/-/healthy", "/healthz")
READY_PATH = "/-/ready"
# Paths --web.telemetry-path may not take: the app answers them itself.
RESERVED_PATHS = ("/", READY_PATH, *HEALTHY_PATHS)


def _plain(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body)))])
    return [body]


# zlib level for gzipped scrapes. client_python uses gzip.compress's default, 9: on the
# 1.1 MB exposition of 200 printers that takes ~37 ms for 64 kB; level 1 ~3 ms for 84 kB
# (bench/bench_exposition.py). Scrapes cross a LAN: time matters more than 20 kB.
GZIP_LEVEL = 1


def make_metrics_app(registry: CollectorRegistry,
                     after_scrape: Callable[[], None] = lambda: None
                     ) -> Callable[..., Iterable[bytes]]:
    """/metrics as client_python's make_wsgi_app serves it, rendered by metrics.exposition.
    `after_scrape` runs once a scrape's answer is built (the cli returns freed memory)."""

    def metrics_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", "OPTIONS,GET")])
            return [b""]
        if method != "GET":
            status = "405 Method Not Allowed"
            start_response(status, [("Allow", "OPTIONS,GET")])
            return [f"# HTTP {status}: {method}; use OPTIONS or GET\n".encode()]
        try:
            client_encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        except (ValueError, TypeError, ArithmeticError):
            # client_python does not guard its parse (`version=1.a` raised): the text
            # format, as for a client that states no preference
            client_encoder, content_type = choose_encoder("")
        params = parse_qs(environ.get("QUERY_STRING", ""))
        target: Any = registry
        if "name[]" in params:
            target = registry.restricted_registry(params["name[]"])
        output = encoder_for(client_encoder)(target)
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            output = gzip.compress(output, compresslevel=GZIP_LEVEL)
            headers.append(("Content-Encoding", "gzip"))
        after_scrape()
        start_response("200 OK", headers)
        return [output]

    return metrics_app
