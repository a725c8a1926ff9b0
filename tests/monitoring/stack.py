"""Helpers for the monitoring-bundle tests: the real binaries, the shipped files, test
copies of them with compressed timings, child processes and a webhook receiver."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts.test.yml"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_YML = ROOT / "alertmanager" / "alertmanager.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "bambu-fleet.json"
RUNBOOK = ROOT / "docs" / "runbook.md"
COMPOSE = ROOT / "docker-compose.yml"

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}


def binary(name: str) -> str:
    """The real binary; a missing one fails the test (the suite never skips it)."""
    for candidate in (f"/usr/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(f"{name} not found: run ./scripts/system-deps (Debian packages prometheus, "
                f"prometheus-alertmanager)", pytrace=False)


def run(*cmd: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ------------------------------------------------------------------ metric catalogue

def exporter_metric_names() -> set[str]:
    """Every family name the exporter exposes (its catalogue in exporter/metrics/catalogue.py)."""
    from exporter.metrics.catalogue import CATALOGUE
    return {spec.name for spec in CATALOGUE}


_METRIC = re.compile(r"\b((?:bambu)_[a-z0-9_]+)\b")


def metric_names_in(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


# ------------------------------------------------------------------ alerts

def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]
            if "alert" in rule]


def runbook_anchors() -> set[str]:
    """GitHub's anchors for the runbook's headings."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


_FOR = re.compile(r"^(\s+for:\s*)\S+\s*$", re.M)


def compressed_rules(dst_dir: Path, hold: str = "2s") -> Path:
    """A copy of alerts.yml with every `for:` set to `hold`, for tests that cannot wait
    minutes. Only the copy changes; the shipped file stays as it is."""
    text = ALERTS.read_text()
    assert _FOR.search(text), "alerts.yml has no `for:` to compress"
    out = dst_dir / "alerts.yml"
    out.write_text(_FOR.sub(lambda m: m.group(1) + hold, text))
    return out


def alertmanager_config_for_test(dst_dir: Path, webhook_url: str) -> Path:
    """The shipped alertmanager.yml with the webhook pointed at the test's receiver and
    the grouping waits cut to a second; routes, grouping keys and inhibitions unchanged."""
    config = load_yaml(ALERTMANAGER_YML)
    receivers = {r["name"]: r for r in config["receivers"]}
    receivers["webhook"]["webhook_configs"][0]["url"] = webhook_url

    def shorten(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    out = dst_dir / "alertmanager.yml"
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


# ------------------------------------------------------------------ dashboard

def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def all_panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def panel_targets(dash: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in all_panels(dash):
        for target in panel.get("targets", []):
            yield panel, target


def expand(expr: str, variables: dict[str, str]) -> str:
    """Fill in Grafana's variables the way Grafana does before it sends a query."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return variables[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


# ------------------------------------------------------------------ processes

class Child:
    """A child process with its output in a log file; stop() ends it by its pid."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd=cwd, start_new_session=True)

    def log(self, tail: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({' '.join(self.cmd)}) ---\n" + "\n".join(lines[-tail:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def wait_http(url: str, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not child.alive():
            raise AssertionError(f"{child.name} exited with {child.proc.returncode}\n{child.log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s ({last})\n{child.log()}")


def http_json(url: str, data: Any = None, timeout: float = 10.0) -> Any:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def start_alertmanager(config: Path, work: Path, log_dir: Path) -> tuple[Child, str]:
    port = free_port()
    child = Child("alertmanager", [
        binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={work / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no HA gossip: nothing to wait for before sending
        "--log.level=debug",
    ], log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/-/ready", child)
    return child, url


class WebhookReceiver:
    """Collects Alertmanager's webhook notifications (JSON bodies) on 127.0.0.1."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                with receiver._lock:
                    receiver.notifications.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self, status: str = "firing") -> list[dict[str, Any]]:
        with self._lock:
            return [a for n in self.notifications for a in n["alerts"] if a["status"] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


PYTHON = sys.executable
