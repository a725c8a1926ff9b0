"""The MQTT codec: what paho sends parses; what we encode is MQTT 3.1.1."""

from __future__ import annotations

import asyncio

import pytest

from exporter.printer.mqtt import codec as mqtt
from exporter.simulator import mqtt_broker as broker

pytestmark = pytest.mark.tier("unit")


def read(data: bytes) -> broker.Packet:
    async def go() -> broker.Packet:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await broker.read_packet(reader)
    return asyncio.run(go())


def test_connect_round_trip_keeps_credentials_out_of_repr() -> None:
    packet = read(mqtt.connect("", "bblp", "12345678", keepalive=60))
    assert packet.kind == mqtt.CONNECT
    hello = broker.parse_connect(packet.body)
    assert (hello.protocol, hello.level, hello.client_id) == ("MQTT", 4, "")
    assert (hello.username, hello.password, hello.keepalive) == ("bblp", "12345678", 60)
    assert "12345678" not in repr(hello)


def test_remaining_length_multibyte() -> None:
    payload = b"x" * 20000  # a big report needs a 3-byte remaining length
    packet = read(mqtt.publish("device/S/report", payload))
    message = broker.parse_publish(packet.flags, packet.body)
    assert message.topic == "device/S/report" and message.payload == payload


def test_publish_qos1_and_subscribe() -> None:
    packet = read(mqtt.publish("device/S/request", b"{}", qos=1, packet_id=7))
    message = broker.parse_publish(packet.flags, packet.body)
    assert (message.qos, message.packet_id, message.payload) == (1, 7, b"{}")
    sub = broker.parse_subscribe(read(mqtt.subscribe(3, "device/S/report")).body)
    assert sub.packet_id == 3 and sub.topics == [("device/S/report", 0)]


def test_fixed_packets() -> None:
    assert broker.connack(5) == bytes([0x20, 2, 0, 5])
    assert broker.suback(1, [0]) == bytes([0x90, 3, 0, 1, 0])
    assert mqtt.puback(258) == bytes([0x40, 2, 1, 2])
    assert broker.pingresp() == bytes([0xD0, 0])


def test_malformed_packets_raise() -> None:
    with pytest.raises(mqtt.ProtocolError):
        read(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))  # remaining length > 4 bytes
    with pytest.raises(mqtt.ProtocolError):
        broker.parse_connect(b"\x00\x04MQ")  # truncated
    with pytest.raises(asyncio.IncompleteReadError):
        read(bytes([0x30, 10, 0]))


# What a server may send a client (MQTT 3.1.1, 2.2): every other type, and every other
# flag value, is refused by check_from_server with words that say what it was.
ALLOWED_FROM_SERVER = {(mqtt.CONNACK, 0), (mqtt.PUBACK, 0), (mqtt.PUBREC, 0),
                       (mqtt.PUBREL, 2), (mqtt.PUBCOMP, 0), (mqtt.SUBACK, 0),
                       (mqtt.UNSUBACK, 0), (mqtt.PINGRESP, 0)} | {
    (mqtt.PUBLISH, flags) for flags in range(16) if flags & 0x06 != 0x06}


@pytest.mark.parametrize("kind", range(16))
def test_check_from_server_takes_exactly_what_a_server_may_send(kind: int) -> None:
    for flags in range(16):
        if (kind, flags) in ALLOWED_FROM_SERVER:
            mqtt.check_from_server(kind, flags)
            continue
        with pytest.raises(mqtt.ProtocolError) as error:
            mqtt.check_from_server(kind, flags)
        words = str(error.value)
        assert mqtt.PACKET_NAMES[kind] in words
        assert ("QoS 3" in words or "reserved flag bits" in words
                or "which a server never sends" in words)
