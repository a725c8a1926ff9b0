"""`bambu-exporter hms-texts fetch`: Bambu's HMS and print error texts saved for
--hms.text-file, for the printers' serial prefixes and the languages asked.

Every question has a timeout and the whole run a deadline; each answer a size cap; a
redirect is followed only within the service's own scheme, host and port. The file is
replaced (a temporary file beside it, then a rename: the exporter never reads half a
file) only when every answer was well formed and each language has texts; otherwise the
file stays as it was and the reason is printed. The running exporter re-reads the file
when it changes.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

from exporter import __version__
from exporter.printer.error_texts import MAX_FILE_BYTES, decode_texts
from exporter.printer.hms_service import AnswerRefused, Fetched, document, query, read_answer

MAX_REDIRECTS = 3
CHUNK = 64 << 10


class FetchError(Exception):
    """One question failed: the message says which and why."""


@dataclass(frozen=True)
class Service:
    """The service's base URL, split: only http and https, no credentials in it."""

    scheme: str
    host: str
    port: int
    base_path: str

    @staticmethod
    def parse(url: str) -> Service:
        parts = urlsplit(url.strip())
        # what an error may repeat: never a password written into the URL
        shown = repr(parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()[:200])
        if parts.username or parts.password:
            raise ValueError("the service URL must not carry a user or password")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{shown} is not an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("give the service's base URL, without a query")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{shown} has an invalid port") from None
        return Service(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def get(service: Service, path: str, timeout: float, deadline: float,
        cap: int = MAX_FILE_BYTES) -> bytes:
    """GET one path: 200's body, at most `cap` bytes, by `deadline` (monotonic)."""
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = _get_once(service, path, timeout, deadline, cap)
        if status == 200:
            return body
        if status in (301, 302, 303, 307, 308) and location:
            target = urlsplit(urljoin(service.origin + path, location))
            try:
                port = target.port or (443 if target.scheme == "https" else 80)
            except ValueError:
                port = -1
            if (target.scheme, target.hostname, port) != (service.scheme, service.host,
                                                          service.port):
                raise FetchError(f"redirected elsewhere ({_shown(location)}): not followed")
            path = target.path + (f"?{target.query}" if target.query else "")
            continue
        raise FetchError(f"HTTP {status}" + (f" ({_shown(location)})" if location else ""))
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _get_once(service: Service, path: str, timeout: float, deadline: float,
              cap: int) -> tuple[int, str, bytes]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("out of time")
    wait = min(timeout, left)
    connection: http.client.HTTPConnection
    if service.scheme == "https":
        connection = http.client.HTTPSConnection(service.host, service.port, timeout=wait,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(service.host, service.port, timeout=wait)
    try:
        connection.request("GET", service.base_path + path, headers={
            "Accept": "application/json", "Accept-Encoding": "identity",
            "User-Agent": f"bambu-exporter/{__version__}"})
        response = connection.getresponse()
        if response.status != 200:
            return response.status, response.getheader("Location") or "", b""
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > cap:
            raise FetchError(f"answer of {int(length)} bytes, over the {cap >> 20} MiB cap")
        body = bytearray()
        while True:
            if time.monotonic() > deadline:
                raise FetchError("answer still arriving at the deadline")
            chunk = response.read1(CHUNK)
            if not chunk:
                return 200, "", bytes(body)
            body += chunk
            if len(body) > cap:
                raise FetchError(f"answer over the {cap >> 20} MiB cap")
    except (TimeoutError, OSError, http.client.HTTPException, ssl.SSLError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(_why(exc)) from None
    finally:
        connection.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer within the timeout"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _shown(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode()[:120]


def fetch(service: Service, prefixes: Sequence[str], languages: Sequence[str],
          timeout: float, deadline: float,
          say: Callable[[str], None] = lambda _line: None) -> Fetched:
    """Every prefix in every language; FetchError on the first failure (nothing of a
    partial run may replace a file). A prefix the service has no texts for is said and
    skipped; a language with no texts at all is a failure."""
    fetched = Fetched(list(languages))
    for lang in languages:
        for prefix in prefixes:
            where = f"{prefix} in {lang}"
            try:
                answer = read_answer(get(service, query(prefix, lang), timeout, deadline),
                                     lang)
            except (FetchError, AnswerRefused) as exc:
                raise FetchError(f"{where}: {exc}") from None
            if not answer:
                say(f"{where}: no texts (the service knows none for this prefix)")
            fetched.add(prefix, lang, answer)
        if not fetched.count(lang):
            raise FetchError(f"the service answered no texts in {lang} for any of "
                             f"{', '.join(prefixes)}")
    return fetched


def provenance(service: Service, fetched: Fetched, now: float) -> dict[str, Any]:
    return {"service": service.origin + service.base_path,
            "fetched_at": datetime.fromtimestamp(now, timezone.utc).isoformat(
                timespec="seconds"),
            "languages": fetched.languages,
            "versions": fetched.versions,
            "by": f"bambu-exporter {__version__} hms-texts fetch",
            "note": "Bambu Lab's texts, fetched from its service by the user; not part "
                    "of bambu-exporter"}


def write_atomically(path: str, content: bytes) -> None:
    """A temporary file beside `path`, flushed to disk, renamed over it: a reader sees
    the old file or the new one, never a mixture."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".hms-texts-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)   # texts, not secrets: the exporter may run as another user
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def encode(fetched: Fetched, service: Service, now: float) -> bytes:
    """The file's bytes, checked with the exporter's own reader before anything is
    replaced (ValueError when it would not load)."""
    content = json.dumps(document(fetched, provenance(service, fetched, now)),
                         ensure_ascii=False, indent=1).encode()
    if len(content) > MAX_FILE_BYTES:
        raise ValueError(f"{len(content) >> 20} MiB, over the {MAX_FILE_BYTES >> 20} MiB "
                         "the exporter reads")
    decode_texts(content)
    return content
