"""HTTP: /metrics, /healthz and / (a landing page with the fleet), as one WSGI app.

/metrics behaves as client_python's make_wsgi_app (OPTIONS/405, text vs OpenMetrics and
the escaping scheme chosen from the Accept header by its own choose_encoder, gzip when
asked, the `name[]` filter through restricted_registry) but renders through
exporter.exposition, which writes the same bytes several times faster.
"""

from __future__ import annotations

import gzip
import html
import logging
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from exporter import __version__
from exporter.exposition import encoder_for
from exporter.status import PrinterStatus

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def landing_page(statuses: Iterable[PrinterStatus], source: str, now: float,
                 inventory_up: bool = True) -> str:
    """The page at /: links and one row per printer. Everything printed is escaped:
    printer names come from a database we do not control."""
    statuses = list(statuses)
    rows = []
    for status in statuses:
        state = status.state
        if status.last_report is None:
            seen = "never"
        else:
            seen = f"{max(0.0, now - status.last_report):.0f} s ago"
        rows.append(
            "<tr>"
            f"<td>{html.escape(status.name)}</td>"
            f"<td>{html.escape(status.serial)}</td>"
            f"<td>{html.escape(status.model)}</td>"
            f"<td class=\"state state-{html.escape(state.lower())}\">{html.escape(state)}</td>"
            f"<td class=\"up-{'yes' if status.up else 'no'}\">{'yes' if status.up else 'no'}</td>"
            f"<td>{html.escape(seen)}</td>"
            f"<td>{html.escape(status.last_error)}</td>"
            "</tr>")
    body = "\n".join(rows) or '<tr><td colspan="7">No printers in the list.</td></tr>'
    up = sum(1 for status in statuses if status.up)
    banner = "" if inventory_up else (
        '<p class="alert" id="inventory-down">The printer list cannot be read right now: '
        "showing the last good list. See the exporter's log.</p>")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bambu-exporter</title>
<meta http-equiv="refresh" content="15">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3em .7em; text-align: left; }}
th {{ background: #f3f3f3; }}
td:not(:last-child), th {{ white-space: nowrap; }}
.state-running {{ color: #1a7f37; font-weight: bold; }}
.state-pause {{ color: #9a6700; font-weight: bold; }}
.state-failed {{ color: #bc4c00; font-weight: bold; }}
.state-offline {{ color: #cf222e; font-weight: bold; }}
.up-no {{ color: #cf222e; }}
.alert {{ background: #ffebe9; border: 1px solid #cf222e; padding: .5em 1em; }}
.muted {{ color: #666; }}
</style></head>
<body>
<h1>bambu-exporter</h1>
<p>Version {html.escape(__version__)}. Printer list: {html.escape(source)}.</p>
{banner}
<ul>
<li><a href="/metrics">/metrics</a>: the Prometheus scrape endpoint</li>
<li><a href="/healthz">/healthz</a>: liveness</li>
</ul>
<h2>Fleet: <span id="up-count">{up}</span> of <span id="printer-count">{len(statuses)}</span> up</h2>
<table id="fleet">
<thead><tr><th>Name</th><th>Serial</th><th>Model</th><th>State</th><th>Up</th>
<th>Last report</th><th>Last error</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p class="muted">As of {html.escape(stamp)}; this page refreshes every 15 s.</p>
</body></html>
"""


def make_app(registry: CollectorRegistry, statuses: Callable[[], list[PrinterStatus]],
             source: str, clock: Callable[[], float] = time.time,
             inventory_up: Callable[[], bool] = lambda: True) -> Callable[..., Iterable[bytes]]:
    metrics_app = make_metrics_app(registry)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if path == "/":
            page = landing_page(statuses(), source, clock(), inventory_up()).encode()
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Length", str(len(page)))])
            return [page]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics, /healthz or /\n"]

    return app


# zlib level for gzipped scrapes. client_python uses gzip.compress's default, 9: on the
# 1.1 MB exposition of 200 printers that takes ~37 ms for 64 kB; level 1 ~3 ms for 84 kB
# (bench/bench_exposition.py). Scrapes cross a LAN: time matters more than 20 kB.
GZIP_LEVEL = 1


def make_metrics_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """/metrics as client_python's make_wsgi_app serves it, rendered by exporter.exposition."""

    def metrics_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", "OPTIONS,GET")])
            return [b""]
        if method != "GET":
            status = "405 Method Not Allowed"
            start_response(status, [("Allow", "OPTIONS,GET")])
            return [f"# HTTP {status}: {method}; use OPTIONS or GET\n".encode()]
        client_encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT"))
        params = parse_qs(environ.get("QUERY_STRING", ""))
        target: Any = registry
        if "name[]" in params:
            target = registry.restricted_registry(params["name[]"])
        output = encoder_for(client_encoder)(target)
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING")):
            output = gzip.compress(output, compresslevel=GZIP_LEVEL)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [output]

    return metrics_app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logging.getLogger(__name__).debug("%s " + format, self.client_address[0], *args)


class WebServer:
    """Serves `app` on host:port from a background thread until stop()."""

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str, port: int) -> None:
        server_class = _ThreadingServer
        if ":" in host:  # IPv6 literal
            import socket

            class _V6(_ThreadingServer):
                address_family = socket.AF_INET6
            server_class = _V6
        self._server = make_server(host, port, app, server_class=server_class,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="web")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
