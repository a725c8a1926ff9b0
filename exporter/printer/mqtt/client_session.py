"""One printer's MQTT 3.1.1 client session as bytes in and bytes out: no sockets here.

The network loop (network_loop.Connection) owns the TLS socket: it writes `outbox` and
feeds what it reads to `received`. Why not paho: paho's reading costs ~15 us of Python per
message (a socket read per header byte, a message object, a topic matcher), a third of
what the exporter spends on a report at a thousand printers, and a paho client holds
~5 KiB and six locks per printer. A printer's session needs little of MQTT: CONNECT as
bambulabs_api sends it (MQTT 3.1.1, user `bblp`, the access code, keep-alive 60 s, clean
session), one SUBSCRIBE, PUBLISH both ways at QoS 0 (QoS 1 and 2 answered), keep-alive
pings with paho's rule, DISCONNECT. tests/printer/test_client.py holds the CONNECT
to the one the installed library's paho sends.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.printer.mqtt import codec as mqtt
from exporter.printer.sanitize import MAX_MESSAGE_BYTES

# A report is at most MAX_MESSAGE_BYTES; this leaves room for the topic and ids.
# Anything larger is passed over unread and reported (on_oversized), never buffered.
MAX_BODY = MAX_MESSAGE_BYTES + 1024


class SessionLost(Exception):
    """The session cannot go on; `reason` is "keepalive" or "protocol"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ClientSession:
    """The client side of one MQTT session. `on_connack(code)` once CONNACK comes (0:
    accepted); `on_message(payload)` for each PUBLISH on `topic`; `on_oversized(size)`
    for a PUBLISH too large to read. Not thread-safe: the network loop's thread only."""

    __slots__ = ("outbox", "established", "refused", "_reader", "_topic", "_keepalive", "_on_connack",
                 "_on_message", "_on_oversized", "_last_in", "_last_out", "_ping_sent",
                 "_packet_id")

    def __init__(self, topic: str, keepalive: int, on_connack: Callable[[int], None],
                 on_message: Callable[[bytes], None],
                 on_oversized: Callable[[int], None]) -> None:
        self.outbox = bytearray()
        self.established = False
        self.refused = 0          # CONNACK's return code when it refused the session
        self._reader = mqtt.PacketReader(MAX_BODY)
        self._topic = topic.encode()
        self._keepalive = keepalive
        self._on_connack = on_connack
        self._on_message = on_message
        self._on_oversized = on_oversized
        self._last_in = self._last_out = 0.0
        self._ping_sent: float | None = None
        self._packet_id = 0

    def connect(self, username: str, password: str, now: float) -> None:
        """Queue CONNECT (an empty client id with a clean session, as paho sends it)."""
        self._last_in = now
        self._send(mqtt.connect("", username, password, self._keepalive), now)

    def subscribe(self, topic: str, now: float) -> None:
        self._packet_id = self._packet_id % 0xFFFF + 1
        self._send(mqtt.subscribe(self._packet_id, topic), now)

    def publish(self, topic: str, payload: bytes, now: float) -> None:
        self._send(mqtt.publish(topic, payload), now)

    def disconnect(self, now: float) -> None:
        self._send(mqtt.disconnect(), now)

    def _send(self, packet: bytes, now: float) -> None:
        self.outbox += packet
        self._last_out = now

    def received(self, data: bytes, now: float) -> None:
        """Bytes read from the printer; callbacks run for the packets they complete.
        SessionLost("protocol") for bytes that are not MQTT."""
        self._last_in = now
        try:
            packets = self._reader.feed(data)
        except mqtt.ProtocolError as exc:
            raise SessionLost("protocol", str(exc)) from None
        for kind, flags, body in packets:
            if kind == mqtt.PUBLISH:
                self._publish_in(flags, body, now)
            elif kind == mqtt.PINGRESP:
                self._ping_sent = None
            elif kind == mqtt.CONNACK and body is not None and len(body) >= 2:
                code = body[1]
                self.established, self.refused = code == 0, code
                if code == 0:   # as the library does on CONNACK
                    self.subscribe(self._topic.decode(), now)
                self._on_connack(code)
            elif kind == mqtt.PUBREL and body is not None and len(body) >= 2:
                self._send(mqtt.ack(mqtt.PUBCOMP, (body[0] << 8) | body[1]), now)
            # SUBACK, PUBACK (of nothing we sent at QoS 1), anything else: nothing to do

    def _publish_in(self, flags: int, body: bytes | None, now: float) -> None:
        if body is None:   # too large to keep: passed over unread
            self._on_oversized(MAX_BODY)
            return
        try:
            topic, packet_id, payload = mqtt.publish_topic(flags, body)
        except mqtt.ProtocolError as exc:
            raise SessionLost("protocol", str(exc)) from None
        qos = (flags >> 1) & 0x03
        if packet_id is not None:
            self._send(mqtt.ack(mqtt.PUBACK if qos == 1 else mqtt.PUBREC, packet_id), now)
        if topic == self._topic:
            self._on_message(payload)

    def keepalive(self, now: float) -> None:
        """paho's rule: after `keepalive` seconds without traffic either way, PINGREQ;
        SessionLost("keepalive") when its PINGRESP has not come `keepalive` seconds on."""
        if now - self._last_out < self._keepalive and now - self._last_in < self._keepalive:
            return
        if self._ping_sent is None:
            self._ping_sent = now
            self._send(mqtt.pingreq(), now)
        elif now - self._ping_sent >= self._keepalive:
            raise SessionLost("keepalive", f"no PINGRESP within {self._keepalive}s")
