"""The MQTT client for one printer, set up as bambulabs_api sets up its own.

`bambulabs_api.Printer()` (its `PrinterMQTTClient`) builds a paho client and calls paho's
`tls_set`, which loads the system CA store into a fresh TLS context: ~17 ms of CPU per
printer (95% of building a Printer), for a store that nothing reads, since printers'
certificates come from Bambu's private CA and are not verified. The library offers no way
to skip it, so we build the paho client the way the library does (MQTT 3.1.1, paho's
version 2 callbacks, user `bblp`, the access code as password, port 8883, keep-alive 60 s,
TLS without verification, topics `device/<serial>/report` and `device/<serial>/request`)
on one TLS context shared by the fleet. tests/printer/test_client.py holds these
conventions against the installed library's, so an upgrade that changes them is noticed.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from exporter.printer.network_loop import LoopClient

USERNAME = "bblp"
PORT = 8883
KEEPALIVE = 60  # seconds; the library's `timeout`


def report_topic(serial: str) -> str:
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    return f"device/{serial}/request"


def make_tls_context() -> ssl.SSLContext:
    """TLS without verification, as the library sets it up per printer; build it once."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_client(host: str, access_code: str, tls_context: ssl.SSLContext) -> LoopClient:
    """A paho client for one printer, not connected (no I/O here)."""
    client = LoopClient(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.username_pw_set(USERNAME, access_code)
    client.tls_set_context(tls_context)
    client.tls_insecure_set(True)  # as the library; the shared context already says so
    # A callback error must not escape into the network loop (it is caught there too).
    client.suppress_exceptions = True
    client.connect_async(host, PORT, KEEPALIVE)  # address, port, keep-alive; no I/O yet
    return client
