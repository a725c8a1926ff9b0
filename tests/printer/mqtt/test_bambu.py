"""bambu.py: the library's conventions, and the CONNECT it sends, without its client
or a CA store."""

from __future__ import annotations

import inspect
import socket
import ssl
import threading
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from bambulabs_api.mqtt_client import PrinterMQTTClient

from exporter.printer.mqtt import codec as mqtt
from exporter.printer.mqtt.bambu import (
    KEEPALIVE,
    PORT,
    USERNAME,
    make_tls_context,
    printer_session,
    request_topic,
)
from exporter.simulator import mqtt_broker as broker
from exporter.simulator.certs import server_context
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("unit")


def test_conventions_are_the_librarys() -> None:
    """Port, user, keep-alive and topics as the installed library uses them; an upgrade
    that changes them fails here rather than silently diverging."""
    defaults = inspect.signature(PrinterMQTTClient.__init__).parameters
    assert defaults["username"].default == USERNAME
    assert defaults["port"].default == PORT
    assert defaults["timeout"].default == KEEPALIVE
    library = PrinterMQTTClient("192.0.2.1", "12345678", "01P00A000000001")
    assert library.command_topic == request_topic("01P00A000000001")
    assert library._client._protocol == paho.MQTTv311


def _connect_sent_by(connect: Callable[[], None], host: str) -> broker.Connect:
    """The CONNECT a client sends to a TLS listener on host:8883."""
    context = server_context()
    with socket.create_server((host, PORT)) as listener:
        listener.settimeout(10)
        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        raw, _ = listener.accept()
        raw.settimeout(10)
        with context.wrap_socket(raw, server_side=True) as conn:
            reader = mqtt.PacketReader()
            while not (packets := reader.feed(conn.recv(4096))):
                pass
        thread.join(10)
    kind, _flags, body = packets[0]
    assert kind == mqtt.CONNECT and body is not None
    return broker.parse_connect(body)


@pytest.mark.tier("e2e")
def test_the_connect_on_the_wire_is_the_librarys(addresses: AddressPool) -> None:
    """The unmodified library's paho client and our session send the same CONNECT:
    MQTT 3.1.1, user bblp, the access code, keep-alive 60 s, clean session."""
    host = addresses.take().first
    library = PrinterMQTTClient(host, "87654321", "01P00A000000001")

    def library_connects() -> None:
        try:
            library._client.connect(host, PORT, KEEPALIVE)
        except OSError:
            pass   # the listener goes away once it has the CONNECT

    theirs = _connect_sent_by(library_connects, host)
    ours_bytes = printer_session("01P00A000000001", "87654321", lambda _c: None,
                                 lambda _p: None, lambda _s: None, 0.0).outbox
    kind_byte, body = ours_bytes[0], mqtt.PacketReader().feed(bytes(ours_bytes))[0][2]
    assert kind_byte >> 4 == mqtt.CONNECT and body is not None
    ours = broker.parse_connect(body)
    assert (ours.protocol, ours.level, ours.keepalive, ours.username, ours.password,
            ours.clean_session) == \
        (theirs.protocol, theirs.level, theirs.keepalive, theirs.username, theirs.password,
         theirs.clean_session) == ("MQTT", 4, KEEPALIVE, USERNAME, "87654321", True)
    assert ours.client_id == theirs.client_id == ""   # the printer's broker names us
    leftover = library._client.socket()
    if leftover is not None:
        leftover.close()


def test_no_ca_store_is_loaded() -> None:
    """The library's paho tls_set loads the system CA store per printer (~17 ms of CPU
    each); our context holds none, and nothing reads one: printers are not verified."""
    context = make_tls_context()
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    library = PrinterMQTTClient("192.0.2.1", "12345678", "01P00A000000001")
    loaded = library._client._ssl_context
    assert loaded is not None
    # Where the system has a CA store at all, the library's context holds it.
    assert loaded.cert_store_stats()["x509_ca"] == \
        ssl.create_default_context().cert_store_stats()["x509_ca"]
