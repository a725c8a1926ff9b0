"""`bambu-exporter healthcheck`: asks this host's exporter /-/ready (or /-/healthy) the way
a container or pod probe needs, through the TLS and basic auth of --web.config.file.

It reads the serve command's flags and variables (a Docker HEALTHCHECK sees only the
variables; a Kubernetes exec probe can repeat the flags), and:
- connects to the first --web.listen-address (an "all interfaces" one as loopback);
- with TLS, trusts exactly the server's own certificate (cert_file of the web config,
  which it can read on the same host) rather than a CA: the probe connects to 127.0.0.1,
  a name no certificate of a real host carries, so the name is not checked;
- with basic auth, sends a user (--healthcheck.user, or the only one configured) and the
  password read from --healthcheck.password-file: never a password on a command line;
- with client certificates required, presents --healthcheck.client-cert/-key.
Exit 0 when the answer is 200, else 1 (Docker reserves 2), with one line saying why.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.config import ENVIRONMENT, parse_listen_addresses, parse_positive_duration
from exporter.errors import ConfigError
from exporter.http_server.web_config import load_web_config
from exporter.web.app import HEALTHY_PATHS, READY_PATH

# flag -> variable of the healthcheck's own flags (the serve flags' are config.ENVIRONMENT)
HEALTHCHECK_ENVIRONMENT = {
    "healthcheck.user": "BAMBU_HEALTHCHECK_USER",
    "healthcheck.password-file": "BAMBU_HEALTHCHECK_PASSWORD_FILE",
    "healthcheck.client-cert": "BAMBU_HEALTHCHECK_CLIENT_CERT",
    "healthcheck.client-key": "BAMBU_HEALTHCHECK_CLIENT_KEY",
}
PROBES = {"ready": READY_PATH, "healthy": HEALTHY_PATHS[0]}


@dataclass(frozen=True)
class Probe:
    host: str
    port: int
    path: str
    timeout: float
    tls: ssl.SSLContext | None = None
    authorization: str | None = None   # the Authorization header; holds the password

    def __repr__(self) -> str:   # the header holds a password
        return f"Probe({self.url})"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"


def _value(flags: Mapping[str, Any], environ: Mapping[str, str], flag: str) -> tuple[str, Any]:
    value = flags.get(flag)
    if value is not None:
        return f"--{flag}", value
    env = ENVIRONMENT.get(flag) or HEALTHCHECK_ENVIRONMENT.get(flag)
    if env and environ.get(env, "").strip():
        return env, environ[env].strip()
    return f"--{flag}", None


def probe_from(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Probe:
    """What to ask, from flags and variables; ConfigError naming what is wrong."""
    where, given = _value(flags, environ, "web.listen-address")
    host, port = parse_listen_addresses(where, given)[0]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    probe = str(flags.get("probe") or "ready")
    timeout = parse_positive_duration("--timeout", str(flags.get("timeout") or "5s"), 0.1)
    where, config_file = _value(flags, environ, "web.config.file")
    if not config_file:
        return Probe(host, port, PROBES[probe], timeout)
    config = load_web_config(config_file, where)
    tls = None
    if config.tls is not None and config.cert_file is not None:
        tls = _client_context(config.cert_file, flags, environ, config.tls)
    authorization = None
    if config.users:
        authorization = _authorization(flags, environ, sorted(config.users))
    return Probe(host, port, PROBES[probe], timeout, tls, authorization)


def _client_context(cert_file: Path, flags: Mapping[str, Any], environ: Mapping[str, str],
                    server: ssl.SSLContext) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    # The server's own certificate is the trust anchor, even when a CA signed it.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cafile=str(cert_file))
    where_cert, cert = _value(flags, environ, "healthcheck.client-cert")
    where_key, key = _value(flags, environ, "healthcheck.client-key")
    if server.verify_mode == ssl.CERT_REQUIRED and not cert:
        raise ConfigError("the web config requires client certificates: give the probe one "
                          "with --healthcheck.client-cert and --healthcheck.client-key (or "
                          "BAMBU_HEALTHCHECK_CLIENT_CERT/_KEY)")
    if cert:
        try:
            context.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{where_cert} {cert} / {where_key} {key}: not a readable PEM "
                              f"certificate and key ({getattr(exc, 'strerror', None) or exc})"
                              ) from None
    return context


def _authorization(flags: Mapping[str, Any], environ: Mapping[str, str],
                   users: Sequence[str]) -> str:
    where, user = _value(flags, environ, "healthcheck.user")
    if not user:
        if len(users) != 1:
            raise ConfigError("the web config has several basic auth users: say which one "
                              "the probe is with --healthcheck.user (or BAMBU_HEALTHCHECK_USER)")
        user = users[0]
    where, password_file = _value(flags, environ, "healthcheck.password-file")
    if not password_file:
        raise ConfigError("the web config asks for basic auth: give the probe's password in a "
                          "file, --healthcheck.password-file (or BAMBU_HEALTHCHECK_PASSWORD_FILE)")
    try:
        with open(password_file, "rb") as f:
            password = f.read().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"{where} {password_file}: cannot read: {exc.strerror or exc}") \
            from None
    token = base64.b64encode(str(user).encode() + b":" + password).decode()
    return f"Basic {token}"


MAX_HEAD = 16384   # an answer head longer than this is not our exporter's
BODY_SHOWN = 512   # bytes of the body read for the line the probe prints


class ProbeFailed(Exception):
    """Why the probe got no complete answer."""


def check(probe: Probe) -> tuple[bool, str]:
    """(healthy, one line saying what was asked and what came back). `probe.timeout`
    bounds the whole exchange (connect, handshake, request, answer), not each read: a
    server that drips its answer fails the probe at the deadline."""
    deadline = time.monotonic() + probe.timeout
    try:
        status, body = _exchange(probe, deadline)
    except ProbeFailed as exc:
        return False, f"{probe.url}: {exc}"
    except (OSError, ValueError) as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no complete answer within {probe.timeout:g}s"
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                str(exc) or type(exc).__name__
        return False, f"{probe.url}: {reason}"
    lines = body.decode("utf-8", "replace").strip().splitlines()
    said = lines[0][:200] if lines else ""
    return status == 200, f"{probe.url}: {status} {said}".rstrip()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _exchange(probe: Probe, deadline: float) -> tuple[int, bytes]:
    sock: socket.socket = socket.create_connection((probe.host, probe.port),
                                                   timeout=_remaining(deadline))
    try:
        if probe.tls is not None:
            sock.settimeout(_remaining(deadline))
            sock = probe.tls.wrap_socket(sock, server_hostname=probe.host)
        host = f"[{probe.host}]" if ":" in probe.host else probe.host
        request = (f"GET {probe.path} HTTP/1.1\r\nHost: {host}:{probe.port}\r\n"
                   "Connection: close\r\n")
        if probe.authorization:
            request += f"Authorization: {probe.authorization}\r\n"
        sock.settimeout(_remaining(deadline))
        sock.sendall((request + "\r\n").encode("latin-1"))
        data = bytearray()
        while (end := data.find(b"\r\n\r\n")) < 0:
            if len(data) > MAX_HEAD:
                raise ProbeFailed(f"answer head over {MAX_HEAD} bytes")
            if not _receive(sock, data, deadline):
                raise ProbeFailed("the answer ended inside its head" if data
                                  else "the server closed the connection without answering")
        status, length = _parse_head(bytes(data[:end]))
        wanted = min(BODY_SHOWN, length if length is not None else BODY_SHOWN)
        body_at = end + 4
        while len(data) - body_at < wanted:
            if not _receive(sock, data, deadline):
                if length is not None:
                    raise ProbeFailed(f"{status}: the answer ended before its body")
                break
        return status, bytes(data[body_at:body_at + wanted])
    finally:
        sock.close()


def _receive(sock: socket.socket, data: bytearray, deadline: float) -> bool:
    """Append what the server sends next; False at its end."""
    sock.settimeout(_remaining(deadline))
    chunk = sock.recv(4096)
    data += chunk
    return bool(chunk)


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,12})[ \t]*(?=\r\n|$)",
                             re.IGNORECASE)


def _parse_head(head: bytes) -> tuple[int, int | None]:
    """(status, Content-Length or None) of a complete answer head."""
    first = head.split(b"\r\n", 1)[0]
    match = _STATUS_LINE.fullmatch(first)
    if match is None:
        raise ProbeFailed("not an HTTP answer")
    length = _CONTENT_LENGTH.search(head)
    return int(match[1]), int(length[1]) if length else None


def run(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> int:
    """The command: 0 when the exporter answers 200, else 1; one line on stdout/stderr."""
    try:
        probe = probe_from(flags, os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"healthcheck: error: {exc}", file=sys.stderr)
        return 1
    ok, line = check(probe)
    print(f"healthcheck: {line}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
