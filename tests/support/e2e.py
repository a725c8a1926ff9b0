"""End-to-end helpers: the exporter as a subprocess, plain HTTP, exposition parsing.

Output of a child goes to files, not pipes, so a chatty child never blocks on a full
pipe and the test can read everything it printed after it ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.postgres import free_port  # noqa: F401 - re-exported for the e2e tests
from tests.support.waiting import wait_until  # noqa: F401 - re-exported for the e2e tests

REPO = Path(__file__).resolve().parents[2]

# Variables that would configure the exporter behind a test's back.
_CONFIG_PREFIXES = ("DB_", "PG", "BAMBU_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any DB_*/PG*/BAMBU_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIG_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# ----------------------------------------------------------------------------- HTTP

@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def http_get(url: str, headers: Mapping[str, str] | None = None,
             timeout: float = 10.0) -> Response:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                            resp.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


# ------------------------------------------------------------------- exposition

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_samples(text: str) -> Samples:
    """Prometheus text exposition -> {(name, sorted labels): value}. Raises on bad syntax."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of `name` whose labels include `labels`; None if there is none."""
    found = [v for (n, ls), v in samples.items()
             if n == name and all(dict(ls).get(k) == want for k, want in labels.items())]
    if len(found) > 1:
        raise AssertionError(f"{name}{labels} matches {len(found)} samples")
    return found[0] if found else None


def current_state(samples: Samples, serial: str) -> str | None:
    """The state whose bambu_printer_state series is 1 for this printer."""
    states = [dict(ls)["state"] for (n, ls), v in samples.items()
              if n == "bambu_printer_state" and dict(ls).get("serial") == serial and v == 1]
    return states[0] if len(states) == 1 else None


# ------------------------------------------------------------ the exporter process

class ExporterProcess:
    """`python -m exporter ARGS` with its output in files; stop() sends SIGTERM."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str],
                 script: Sequence[str] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="bambu-e2e-")
        self._out_path = Path(self._dir.name) / "stdout"
        self._err_path = Path(self._dir.name) / "stderr"
        command = [sys.executable, *(script or ["-m", "exporter"]), *args]
        with open(self._out_path, "wb") as out, open(self._err_path, "wb") as err:
            self.proc = subprocess.Popen(command, cwd=REPO, env=dict(env), stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL)
        self.returncode: int | None = None
        self._kept: tuple[str, str] | None = None  # the output, once the files are gone

    @property
    def stdout(self) -> str:
        return self._kept[0] if self._kept else self._out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._kept[1] if self._kept else self._err_path.read_text(errors="replace")

    def wait_serving(self, base_url: str, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"exporter exited with {self.proc.returncode} before "
                                     f"serving:\n{self.stderr[-3000:]}")
            try:
                return http_get(base_url + "/healthz", timeout=2).status == 200
            except OSError:
                return False
        wait_until(ready, timeout, what=f"{base_url}/healthz")

    def stop(self, timeout: float = 30.0, signum: int = signal.SIGTERM) -> int:
        """SIGTERM (or `signum`) and wait; returns the exit code. Kills (and fails) if
        it does not exit within `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"exporter did not exit within {timeout}s of {signum!r}:\n"
                                     f"{self.stderr[-3000:]}") from None
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        """Kill if still running, keep the output in memory, remove the files."""
        self.kill()
        if self._kept is None:
            self._kept = (self.stdout, self.stderr)
            self._dir.cleanup()


def run_exporter(args: Sequence[str], env: Mapping[str, str], timeout: float = 60.0,
                 script: Sequence[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run to completion; a run that does not end within `timeout` fails the test."""
    command = [sys.executable, *(script or ["-m", "exporter"]), *args]
    try:
        return subprocess.run(command, cwd=REPO, env=dict(env), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(command)} did not exit within {timeout}s; "
                             f"stderr so far:\n{exc.stderr!r}") from None


def assert_no_secret(secrets: Iterable[str], **texts: str) -> None:
    leaks = [f"{secret!r} in {where}" for where, text in texts.items()
             for secret in secrets if secret and secret in text]
    assert not leaks, "secrets leaked: " + "; ".join(leaks)


# ------------------------------------------------------------------ landing page

class _TableParser(HTMLParser):
    """Collects the header and body rows of <table id="fleet"> as text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_table = False
        self.depth = 0
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._cell_is_header = False
        self.tables_seen = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            if self.in_table:
                self.depth += 1
            elif dict(attrs).get("id") == "fleet":
                self.in_table = True
                self.tables_seen += 1
        if not self.in_table:
            return
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            self._cell_is_header = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if not self.in_table:
            return
        if tag == "table":
            if self.depth:
                self.depth -= 1
            else:
                self.in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._cell_is_header:
                self.headers.append(text)
            elif self._row is not None:
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self.in_table and self._cell is not None:
            self._cell.append(data)


def fleet_table(page: str) -> list[dict[str, str]]:
    """The landing page's fleet table as one dict per printer row, keyed by header."""
    parser = _TableParser()
    parser.feed(page)
    parser.close()
    assert parser.tables_seen == 1, "the page has no (or several) <table id=\"fleet\">"
    assert parser.headers, "the fleet table has no header row"
    rows = []
    for cells in parser.rows:
        assert len(cells) == len(parser.headers), \
            f"row {cells} does not match the headers {parser.headers}"
        rows.append(dict(zip(parser.headers, cells, strict=False)))
    return rows
