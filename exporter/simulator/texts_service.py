"""A stand-in for Bambu's HMS texts service, in its shape, with texts of our own for every
code the simulator's printers send (Bambu's texts are never shipped): for the demo and
for the tests of `bambu-exporter hms-texts fetch`, which it can also answer as a broken
service would (`misbehave`).

`GET /query.php?lang=<lang>&v=0&d=<serial prefix>` answers `{"result": 0, "ver": ..,
"data": {"device_hms": {"<lang>": [{"ecode", "intro"}]}, "device_error": {...}}}`; a
language it has no texts in answers an empty set, as the real service does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Our own words for the codes reports.py sends (FAILURES, WARNINGS, SERIOUS).
HMS_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "0C00030000010005": "The camera saw a spaghetti-like failure; the print was stopped.",
        "0300010000010003": "The heatbed temperature went out of range; the print was "
                            "stopped.",
        "0700020000010007": "The filament broke inside the AMS.",
        "0300040000010002": "The nozzle seems clogged: no extrusion was detected.",
        "0C0003000003000B": "The first-layer inspection found possible defects.",
        "0700030000020011": "The AMS humidity is high: dry the filament.",
        "0500010000040001": "Routine maintenance is due: lubricate the rods.",
        "03000F0000030004": "The chamber cooling fan turns slower than expected.",
        "0700200000020002": "AMS A: the filament is stuck or tangled at the feeder.",
    },
    "de": {
        "0C00030000010005": "Die Kamera hat einen Spaghetti-Fehler erkannt; der Druck "
                            "wurde gestoppt.",
        "0300010000010003": "Die Betttemperatur lag außerhalb des Bereichs.",
        "0700020000010007": "Das Filament ist im AMS gerissen.",
        "0300040000010002": "Die Düse scheint verstopft zu sein.",
        "0C0003000003000B": "Die Prüfung der ersten Schicht fand mögliche Fehler.",
        "0700030000020011": "Die Feuchtigkeit im AMS ist hoch: Filament trocknen.",
        "0500010000040001": "Wartung fällig: Stangen schmieren.",
        "03000F0000030004": "Der Kammerlüfter dreht langsamer als erwartet.",
        "0700200000020002": "AMS A: Das Filament klemmt am Einzug.",
    },
}
ERROR_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "0C008005": "Spaghetti-like failure detected; the job was stopped.",
        "03008012": "Heatbed temperature abnormal; the job was stopped.",
        "07008011": "The filament broke in the AMS; the job was stopped.",
        "0300800A": "The nozzle is clogged; the job was stopped.",
        "0300400C": "The job was cancelled.",
    },
    "de": {
        "0C008005": "Spaghetti-Fehler erkannt; der Auftrag wurde gestoppt.",
        "03008012": "Betttemperatur auffällig; der Auftrag wurde gestoppt.",
        "07008011": "Filament im AMS gerissen; der Auftrag wurde gestoppt.",
        "0300800A": "Düse verstopft; der Auftrag wurde gestoppt.",
        "0300400C": "Der Auftrag wurde abgebrochen.",
    },
}
VERSION = 20261201

# How the stand-in can answer like a broken service (tests of the fetch command): html,
# error_500, endless, not_json, not_hex, markup, redirect_elsewhere, redirect_here,
# other_language, empty, silent.


def answer(lang: str, prefix: str) -> dict[str, Any]:
    """The service's answer for one prefix and language (our texts serve every prefix)."""
    del prefix
    return {"result": 0, "t": 1764547200, "ver": VERSION, "data": {
        "device_hms": {lang: [{"ecode": code, "intro": text}
                              for code, text in HMS_TEXTS.get(lang, {}).items()]},
        "device_error": {lang: [{"ecode": code, "intro": text}
                                for code, text in ERROR_TEXTS.get(lang, {}).items()]}}}


class TextsService:
    """The stand-in on (host, port); port 0 picks a free one. start() / stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.misbehave: str | None = None
        self.requests: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                service.requests.append(self.path)
                service.handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="texts-service", daemon=True)
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> TextsService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():   # shutdown() waits for a loop that never ran
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TextsService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != "/query.php":
            _send(request, 404, b"not found", "text/plain")
            return
        lang, prefix = query.get("lang", ""), query.get("d", "")
        mode = self.misbehave
        doc: Mapping[str, Any] = answer(lang, prefix)
        if mode == "html":
            _send(request, 200, b"<!DOCTYPE html><html><body>Please log in</body></html>",
                  "text/html")
        elif mode == "error_500":
            _send(request, 500, b"internal error", "text/plain")
        elif mode == "not_json":
            _send(request, 200, b'{"result": 0, "data": {"device_hms": ', "application/json")
        elif mode == "redirect_elsewhere":
            request.send_response(302)
            request.send_header("Location", "http://203.0.113.9/query.php?" + parts.query)
            request.send_header("Content-Length", "0")
            request.end_headers()
        elif mode == "redirect_here":
            request.send_response(301)
            request.send_header("Location", "/query.php?" + parts.query + "&moved=1")
            request.send_header("Content-Length", "0")
            request.end_headers()
            self.misbehave = None   # the next question is answered
        elif mode == "endless":
            self._endless(request)
        elif mode == "silent":
            self._stopped.wait(30)
        else:
            if mode == "other_language":
                doc = answer("zh-cn" if lang != "zh-cn" else "en", prefix)
                doc["data"]["device_hms"]["zh-cn"] = [{"ecode": "0C00030000010005",
                                                       "intro": "别的语言"}]
            elif mode == "empty":
                doc = {"result": 0, "ver": VERSION,
                       "data": {"device_hms": {lang: []}, "device_error": {lang: []}}}
            elif mode == "not_hex":
                doc["data"]["device_hms"][lang] += [
                    {"ecode": "0C00ZZ0000010005", "intro": "not a code"},
                    {"ecode": "0C000300000100", "intro": "too short"},
                    {"ecode": 7, "intro": "not text"}]
            elif mode == "markup":
                doc["data"]["device_error"][lang] = [
                    {"ecode": "0C008005",
                     "intro": '<script>alert("x")</script><b>Spaghetti</b>\x1b[31m\x00'
                              '\r\nstopped & "held"'}] + doc["data"]["device_error"][lang][1:]
            _send(request, 200, json.dumps(doc, ensure_ascii=False).encode(),
                  "application/json")

    def _endless(self, request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.end_headers()
        chunk = b'{"result": 0, "data": {"pad": "' + b"x" * (1 << 16)
        try:
            while not self._stopped.is_set():
                request.wfile.write(chunk)
                chunk = b"x" * (1 << 16)
                time.sleep(0.001)
        except OSError:
            return


def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", f"{kind}; charset=utf-8")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)
