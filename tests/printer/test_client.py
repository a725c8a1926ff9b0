"""client.py: the paho client built as bambulabs_api builds it, without a CA store."""

from __future__ import annotations

import inspect
import ssl

import paho.mqtt.client as paho
from bambulabs_api.mqtt_client import PrinterMQTTClient

from exporter.printer.client import (
    KEEPALIVE,
    PORT,
    USERNAME,
    make_client,
    make_tls_context,
    request_topic,
)


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


def test_client_is_set_up_like_the_librarys_on_the_shared_context() -> None:
    context = make_tls_context()
    client = make_client("192.0.2.7", "87654321", context)
    assert (client.host, client.port, client.keepalive) == ("192.0.2.7", PORT, KEEPALIVE)
    assert client._username == USERNAME.encode() and client._password == b"87654321"
    assert client._ssl_context is context and client._tls_insecure
    assert client._protocol == paho.MQTTv311
    assert client.socket() is None  # nothing connected yet


def test_no_ca_store_is_loaded() -> None:
    """The library's paho tls_set loads the system CA store per printer (~17 ms of CPU
    each); our context holds none, and nothing reads one: printers are not verified."""
    context = make_tls_context()
    make_client("192.0.2.8", "12345678", context)
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    library = PrinterMQTTClient("192.0.2.1", "12345678", "01P00A000000001")
    loaded = library._client._ssl_context
    assert loaded is not None
    # Where the system has a CA store at all, the library's context holds it.
    assert loaded.cert_store_stats()["x509_ca"] == \
        ssl.create_default_context().cert_store_stats()["x509_ca"]
