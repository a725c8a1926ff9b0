"""`bambu-exporter probe`: one printer checked step by step, as the sessions would reach it,
saying where it fails and what fixes that.

Blocking sockets on purpose: one printer, one run, read by a person; the MQTT bytes are the
sessions' own (ClientSession), so what passes here passes there. Each step is timed from
the start of the probe.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from exporter.printer.mqtt.bambu import PORT, make_tls_context, printer_session, request_topic
from exporter.printer.mqtt.certificate import (
    CertificateRejected,
    check_serial,
    describe_verify_error,
)
from exporter.printer.mqtt.client_session import ClientSession, SessionLost
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.sanitize import MessageRejected, decode_message
from exporter.printer.session import SessionSettings
from exporter.printer.snapshot import firmware_from_version, model_from_version

# print.fun: this bit set = the firmware requires authorization for commands
# (Bambu's 2025 authorization control; LAN clients then need Developer Mode).
FUN_AUTHORIZATION = 0x20000000

TROUBLESHOOTING = "docs/troubleshooting.md"

# What fixes a failed step: docs/troubleshooting.md, in a line.
FIXES = {
    "address": "the name does not resolve: list the printer by its IP address (shown on "
               "its screen, network settings)",
    "tcp": "nothing accepts TCP 8883 there: check the IP on the printer's screen; turn on "
           "LAN Only Mode (and Developer Mode on firmware with authorization control)",
    "tls": "TCP is accepted but TLS never completes: the printer is hung or busy; "
           "power-cycle it",
    "certificate": "the certificate is not this printer's: check that the IP and the serial "
                   "belong together, and that --printer.ca-file is Bambu's printer CA bundle",
    "connack": "the access code is wrong: read it on the printer's screen (network "
               "settings, next to LAN Only Mode); it changes when LAN mode is toggled",
    "suback": "the printer refused the subscription: check the serial (as on the printer's "
              "label or screen)",
    "protocol": "the printer broke MQTT 3.1.1 (the step says how): update its firmware or "
                "power-cycle it",
    "report": "connected, but no report arrived: check the serial; the printer publishes "
              "on device/<SERIAL>/report only for its own serial",
}


@dataclass
class Step:
    step: str
    ok: bool
    ms: int
    detail: str


@dataclass
class ProbeResult:
    ip: str
    serial: str
    steps: list[Step] = field(default_factory=list)
    failed_step: str | None = None
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None

    def as_json(self) -> str:
        doc = {"ok": self.ok, "ip": self.ip, "serial": self.serial,
               "steps": [asdict(step) for step in self.steps],
               "failed_step": self.failed_step, "fix": self.fix}
        return json.dumps(doc, indent=2)

    def as_text(self) -> str:
        lines = [f"probe {self.ip} (serial {self.serial}):"]
        lines += [f"  {step.ms:6d} ms  {'ok  ' if step.ok else 'FAIL'} {step.step:<11} "
                  f"{step.detail}" for step in self.steps]
        if self.ok:
            lines.append("ok: the printer answered with a report")
        else:
            lines.append(f"failed at {self.failed_step}: {self.fix}")
            lines.append(f"(see {TROUBLESHOOTING})")
        return "\n".join(lines)


class _Failed(Exception):
    def __init__(self, step: str, detail: str, fix_step: str | None = None) -> None:
        super().__init__(detail)
        self.step, self.fix_step = step, fix_step or step


def probe(ip: str, serial: str, access_code: str, settings: SessionSettings | None = None,
          report_timeout: float = 15.0, port: int = PORT,
          clock: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Run every step, as a session with `settings` would connect (its CA file and connect
    timeout); the result says which passed and, if one failed, which and the fix. The
    access code goes into the CONNECT only, never into the result."""
    settings = settings or SessionSettings()
    ca_file, connect_timeout = settings.ca_file, settings.connect_timeout
    serial = serial.strip().upper()
    result = ProbeResult(ip, serial)
    started = clock()

    def passed(step: str, detail: str) -> None:
        result.steps.append(Step(step, True, round((clock() - started) * 1000), detail))

    sock: socket.socket | None = None
    try:
        try:
            sock = _steps(ip, serial, access_code, ca_file, connect_timeout, report_timeout,
                          port, clock, passed)
        finally:
            if sock is not None:
                sock.close()
    except _Failed as failed:
        result.steps.append(Step(failed.step, False, round((clock() - started) * 1000),
                                 str(failed)))
        result.failed_step, result.fix = failed.step, FIXES[failed.fix_step]
    return result


def _steps(ip: str, serial: str, access_code: str, ca_file: str | None,
           connect_timeout: float, report_timeout: float, port: int,
           clock: Callable[[], float], passed: Callable[[str, str], None]) -> socket.socket:
    # name or address
    try:
        ipaddress.ip_address(ip)
        address = ip
        passed("address", f"{ip} (an IP address, no lookup)")
    except ValueError:
        try:
            infos = socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Failed("address", f"{ip}: {exc.strerror or exc}") from None
        address = str(infos[0][4][0])
        passed("address", f"{ip} is {address}")

    # TCP
    try:
        raw = socket.create_connection((address, port), timeout=connect_timeout)
    except TimeoutError:
        raise _Failed("tcp", f"no answer on {address}:{port} within "
                             f"{connect_timeout:g}s") from None
    except OSError as exc:
        raise _Failed("tcp", f"{address}:{port}: {exc.strerror or exc}") from None
    passed("tcp", f"connected to {address}:{port}")

    # TLS, as the sessions speak it (TLS 1.2 at most; verified with a bundle)
    context = make_tls_context(ca_file)
    try:
        tls = context.wrap_socket(raw, server_hostname=ip if not _is_ip(ip) else None)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise _Failed("tls", describe_verify_error(exc), "certificate") from None
    except TimeoutError:
        raw.close()
        raise _Failed("tls", f"no TLS answer within {connect_timeout:g}s") from None
    except (OSError, ValueError) as exc:
        raw.close()
        raise _Failed("tls", f"TLS refused: {exc}") from None
    subject, issuer = _names(tls)
    verified = ("verified against --printer.ca-file" if ca_file
                else "not verified (no --printer.ca-file)")
    passed("tls", f"{tls.version()}, subject {subject}, issuer {issuer}, {verified}")
    if ca_file:
        try:
            check_serial(tls, serial)
        except CertificateRejected as exc:
            tls.close()
            raise _Failed("certificate", str(exc)) from None
        passed("certificate", f"CN is the serial {serial}")

    try:
        _mqtt(tls, serial, access_code, connect_timeout, report_timeout, clock, passed)
    except BaseException:
        tls.close()
        raise
    return tls


def _mqtt(tls: ssl.SSLSocket, serial: str, access_code: str, connect_timeout: float,
          report_timeout: float, clock: Callable[[], float],
          passed: Callable[[str, str], None]) -> None:
    connacks: list[int] = []
    messages: list[bytes] = []
    oversized: list[int] = []
    session = printer_session(serial, access_code, connacks.append, messages.append,
                              oversized.append, clock())

    def exchange(until: Callable[[], bool], deadline: float, step: str) -> None:
        """Write the outbox and read until `until()` or the deadline."""
        while True:
            if session.outbox:
                tls.settimeout(connect_timeout)
                tls.sendall(bytes(session.outbox))
                session.outbox.clear()
            if until():
                return
            left = deadline - clock()
            if left <= 0:
                raise _Failed(step, f"nothing within {deadline_text[step]}")
            tls.settimeout(left)
            try:
                data = tls.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Failed(step, f"connection lost: {exc}") from None
            if not data:
                raise _Failed(step, "the printer closed the connection")
            try:
                session.received(data, clock())
            except SessionLost as lost:
                fix = {OfflineReason.REFUSED: "suback",
                       OfflineReason.PROTOCOL: "protocol"}.get(lost.reason)
                raise _Failed(step, f"{lost.reason.label}: {lost}", fix) from None

    deadline_text = {"connack": f"{connect_timeout:g}s", "suback": f"{connect_timeout:g}s",
                     "report": f"{report_timeout:g}s", "version": f"{report_timeout:g}s"}
    exchange(lambda: bool(connacks), clock() + connect_timeout, "connack")
    if connacks[0] != 0:
        what = {4: "bad user name or access code", 5: "not authorized"}.get(
            connacks[0], "refused")
        raise _Failed("connack", f"CONNACK {connacks[0]}: {what}")
    passed("connack", "session accepted")
    exchange(lambda: session.subscribed, clock() + connect_timeout, "suback")
    passed("suback", f"subscribed to device/{serial}/report")

    _ask(session, serial, clock())
    report: dict[str, Any] = {}
    version: dict[str, Any] | None = None

    def read_messages() -> None:
        nonlocal version
        while messages:
            try:
                decoded = decode_message(messages.pop(0), None)
            except MessageRejected:
                continue
            if decoded.version is not None and version is None:
                version = decoded.version
            if decoded.report and "print" in decoded.report:
                report.update(decoded.report)

    def first_report() -> bool:
        read_messages()
        return bool(report)

    exchange(first_report, clock() + report_timeout, "report")
    passed("report", "a report arrived on the report topic")
    try:
        exchange(lambda: first_report() and version is not None, clock() + report_timeout,
                 "version")
    except _Failed:
        passed("version", "no answer to get_version (model and firmware unknown)")
    else:
        passed("version", f"model {model_from_version(version) or 'unknown'}, firmware "
                          f"{firmware_from_version(version) or 'unknown'}")
    print_doc = report.get("print", {})
    state = print_doc.get("gcode_state") if isinstance(print_doc, dict) else None
    passed("state", f"gcode_state {state}" if isinstance(state, str)
           else "no gcode_state in the first report")
    passed("commands", _authorization(print_doc))
    session.disconnect(clock())
    try:
        tls.settimeout(1.0)
        tls.sendall(bytes(session.outbox))
    except OSError:
        pass


def _ask(session: ClientSession, serial: str, now: float) -> None:
    topic = request_topic(serial)
    session.publish(topic, json.dumps({"info": {"command": "get_version"}}).encode(), now)
    session.publish(topic, json.dumps({"pushing": {"command": "pushall"}}).encode(), now)


def _authorization(print_doc: Any) -> str:
    fun = print_doc.get("fun") if isinstance(print_doc, dict) else None
    if not isinstance(fun, str) or not fun.strip():
        return "authorization for commands: not said (the printer sends no print.fun)"
    try:
        bits = int(fun.strip(), 16)
    except ValueError:
        return f"authorization for commands: print.fun {fun[:32]!r} is not hex"
    if bits & FUN_AUTHORIZATION:
        return ("authorization for commands: required (print.fun bit 0x20000000): "
                "third-party commands need Developer Mode")
    return "authorization for commands: not required (print.fun bit 0x20000000 clear)"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _names(tls: ssl.SSLSocket) -> tuple[str, str]:
    """The certificate's subject and issuer, verified or not."""
    decoded: dict[str, Any] | None = tls.getpeercert() or None
    if decoded is None:
        decoded = _decode_unverified(tls.getpeercert(binary_form=True))
    if not decoded:
        return "(not decoded)", "(not decoded)"
    return _dn(decoded.get("subject")), _dn(decoded.get("issuer"))


def _decode_unverified(der: bytes | None) -> dict[str, Any] | None:
    """getpeercert() is empty when nothing was verified: decode the DER ourselves with
    the ssl module's own decoder (private, hence guarded: only the display suffers)."""
    if not der:
        return None
    decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decoder is None:
        return None
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        result = decoder(path)
        return result if isinstance(result, dict) else None
    except (OSError, ValueError, ssl.SSLError):
        return None
    finally:
        os.unlink(path)


def _dn(name: Any) -> str:
    if not isinstance(name, tuple):
        return "(none)"
    parts = []
    short = {"commonName": "CN", "organizationName": "O", "countryName": "C",
             "organizationalUnitName": "OU", "stateOrProvinceName": "ST", "localityName": "L"}
    for rdn in name:
        for key, value in rdn:
            parts.append(f"{short.get(key, key)}={value}")
    return ", ".join(parts) or "(empty)"
