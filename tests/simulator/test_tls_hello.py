"""tls_hello.py against ClientHellos made by Python's own ssl module (memory BIOs)."""

from __future__ import annotations

import ssl

import pytest

from exporter.printer.mqtt.bambu import make_tls_context
from exporter.simulator.tls_hello import offers_tls13, record_complete

pytestmark = pytest.mark.tier("unit")


def client_hello(context: ssl.SSLContext) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="printer")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def test_a_default_client_offers_tls13() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    hello = client_hello(context)
    assert record_complete(hello) and offers_tls13(hello)


def test_a_tls12_client_does_not() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    hello = client_hello(context)
    assert record_complete(hello) and not offers_tls13(hello)


def test_the_exporters_context_offers_tls12_at_most() -> None:
    assert not offers_tls13(client_hello(make_tls_context()))


def test_what_is_not_a_client_hello_counts_as_offering() -> None:
    assert offers_tls13(b"GET / HTTP/1.1\r\n\r\n")
    assert offers_tls13(b"\x16\x03\x01\x00\x05\x01\x00")
    assert not record_complete(b"\x16\x03\x01\x00\x50" + b"\x00" * 10)
