"""How the exporter speaks to a printer: bambulabs_api's conventions, without its client.

MQTT 3.1.1, user `bblp`, the access code as password, port 8883, keep-alive 60 s, topics
`device/<serial>/report` and `device/<serial>/request`, on one TLS context shared by the
fleet: TLS 1.2 at most (some firmware never answers a ClientHello offering 1.3), not
verified unless --printer.ca-file says whom to trust (certificate.py). Building the
library's client costs a CA-store load per printer (docs/architecture.md).
tests/printer/mqtt/test_bambu.py holds these conventions, and the CONNECT on the wire, to
the installed library's, so an upgrade that changes them is noticed.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from exporter.printer.mqtt.certificate import trust_bundle
from exporter.printer.mqtt.client_session import ClientSession

USERNAME = "bblp"
PORT = 8883
KEEPALIVE = 60  # seconds; the library's `timeout`


def report_topic(serial: str) -> str:
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    return f"device/{serial}/request"


def make_tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """TLS without verification, as the library sets it up per printer; build it once.
    With `ca_file`, certificates must chain to that bundle (certificate.py; the CN is
    checked per printer). TLS 1.2 at most: every Bambu firmware speaks it, and some
    (P2S 01.02.00.00) never answer a ClientHello that offers 1.3, so offering it would
    leave them down."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        trust_bundle(context, ca_file)
    return context


def printer_session(serial: str, access_code: str, on_connack: Callable[[int], None],
                    on_message: Callable[[bytes], None],
                    on_oversized: Callable[[int], None],
                    now: float) -> ClientSession:
    """A new MQTT session with a printer, CONNECT queued: it subscribes to the report
    topic once CONNACK accepts it."""
    session = ClientSession(report_topic(serial), KEEPALIVE, on_connack, on_message,
                            on_oversized)
    session.connect(USERNAME, access_code, now)
    return session
