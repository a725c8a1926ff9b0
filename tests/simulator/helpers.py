"""Test helpers for the simulator: real clients (bambulabs_api, paho) and a deep merge."""

from __future__ import annotations

import copy
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
from bambulabs_api import Printer

from exporter.simulator import SimulatedRecord
from tests.support.waiting import wait_until  # noqa: F401 - the simulator tests import it from here

VOLATILE = ("sequence_id", "msg", "command")


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    """How a client must apply a P1/A1 delta: objects key by key, lists replaced."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            deep_merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def without_volatile(report: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(report)
    for key in VOLATILE:
        doc.get("print", {}).pop(key, None)
    return doc


@contextmanager
def api_printer(record: SimulatedRecord, code: str | None = None) -> Iterator[Printer]:
    """The unmodified bambulabs_api client, MQTT only, closed with a real DISCONNECT."""
    printer = Printer(record.ip, code if code is not None else record.access_code, record.serial)
    printer.mqtt_client._client.suppress_exceptions = True
    printer.mqtt_start()
    try:
        yield printer
    finally:
        printer.mqtt_client._client.disconnect()
        printer.mqtt_stop()


class Listener:
    """A paho client that records CONNACK, every message and disconnects."""

    def __init__(self, record: SimulatedRecord, code: str | None = None, keepalive: int = 60,
                 client_id: str = "", pushall: bool = True) -> None:
        self.record = record
        self.messages: list[bytes] = []
        self.connack: list[str] = []  # paho's reason names, e.g. "Success", "Not authorized"
        self.disconnected = threading.Event()
        self.lock = threading.Lock()
        self.pushall = pushall
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311)
        self.client.suppress_exceptions = True
        self.client.username_pw_set("bblp", code if code is not None else record.access_code)
        self.client.tls_set(cert_reqs=ssl.CERT_NONE)
        self.client.tls_insecure_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.keepalive = keepalive

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any) -> None:
        self.connack.append(str(rc))
        if not rc.is_failure:
            client.subscribe(f"device/{self.record.serial}/report")
            if self.pushall:
                self.request({"pushing": {"command": "pushall"}})

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg.payload)

    def request(self, doc: dict[str, Any]) -> None:
        self.client.publish(f"device/{self.record.serial}/request", json.dumps(doc))

    def start(self) -> Listener:
        self.client.connect_async(self.record.ip, 8883, self.keepalive)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def docs(self) -> list[dict[str, Any]]:
        with self.lock:
            raw = list(self.messages)
        out = []
        for payload in raw:
            try:
                doc = json.loads(payload)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def prints(self) -> list[dict[str, Any]]:
        """The printer's reports (push_status), full and delta; not its command echoes."""
        return [d for d in self.docs() if isinstance(d.get("print"), dict)
                and d["print"].get("command", "push_status") == "push_status"]

    def echoes(self, command: str) -> list[dict[str, Any]]:
        """The printer's echoes of a print command (project_file at a job's start)."""
        return [d["print"] for d in self.docs() if isinstance(d.get("print"), dict)
                and d["print"].get("command") == command]

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tls_handshake(ip: str, timeout: float) -> None:
    """Connect and complete TLS (raises on timeout or refusal)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, 8883), timeout=timeout) as raw:
        with context.wrap_socket(raw) as tls:
            tls.do_handshake()


def raw_connect(ip: str, username: str | None, password: str | None,
                client_id: str = "", timeout: float = 5.0) -> bytes:
    """Send one CONNECT over TLS and return the raw CONNACK packet (4 bytes)."""
    from exporter.printer.mqtt import codec

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((ip, 8883), timeout=timeout) as raw:
        with context.wrap_socket(raw) as tls:
            tls.sendall(codec.connect(client_id, username, password))
            data = b""
            while len(data) < 4:
                chunk = tls.recv(4 - len(data))
                if not chunk:
                    break
                data += chunk
            return data
