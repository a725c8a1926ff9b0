"""The web server's own series: what hostile or broken clients cost, for dashboards and
alerts (many 401s: a scraper with an old password; many 503s: scrapes piling up)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.http_server.server_core import ServerCore

DROP_REASONS = ("header_timeout", "body_timeout", "write_timeout", "idle_timeout",
                "connection_limit", "client_limit", "tls_handshake", "security_reload")
REFUSE_REASONS = ("unauthorized", "bad_request", "too_large", "unsupported")


class WebServerCollector(Collector):
    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def collect(self) -> Iterator[Metric]:
        core = self.core
        yield GaugeMetricFamily("bambu_exporter_web_connections",
                                "Open HTTP connections to the exporter.",
                                value=len(core.connections))
        yield GaugeMetricFamily(
            "bambu_exporter_web_answer_bytes",
            "Bytes of answers held for clients while they are written (each answer once).",
            value=core.answers.held)
        dropped = CounterMetricFamily(
            "bambu_exporter_web_dropped_connections",
            "HTTP connections the exporter closed, by reason.", labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], core.dropped[reason])
        dropped.add_metric(["answer_budget"], core.answers.dropped)
        yield dropped
        refused = CounterMetricFamily(
            "bambu_exporter_web_refused_requests",
            "HTTP requests answered without rendering: unauthorized (401), bad_request "
            "(400, malformed), too_large (413, 414, 431), unsupported (501, 505), busy (503, "
            "no render or bcrypt slot), throttled (429, too many password checks from one "
            "address), answer_budget (503, no room under the budget of answers held for "
            "clients).", labels=["reason"])
        for reason in REFUSE_REASONS:
            refused.add_metric([reason], core.refused[reason])
        refused.add_metric(["busy"], core.render_gate.refused + core.telemetry_gate.refused
                           + core.auth_gate.refused)
        refused.add_metric(["throttled"], core.auth_gate.throttled)
        refused.add_metric(["answer_budget"], core.answers.refused)
        yield refused
        watcher = core.watcher
        yield GaugeMetricFamily(
            "bambu_exporter_web_config_last_reload_successful",
            "1 when the last change of --web.config.file was applied (or none was seen), 0 "
            "while the file does not load or would lower security (the last good one "
            "serves).", value=1 if watcher is None or watcher.last_ok else 0)
        yield CounterMetricFamily(
            "bambu_exporter_web_config_reload_failures",
            "Changes of --web.config.file refused: not loadable, or lowering security.",
            value=0 if watcher is None else watcher.failures)
        yield CounterMetricFamily(
            "bambu_exporter_web_shared_renders",
            "HTTP requests answered with the render of an identical request in progress.",
            value=core.render_gate.shared + core.telemetry_gate.shared)
