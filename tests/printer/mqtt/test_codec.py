"""The MQTT codec: what paho sends parses; what we encode is MQTT 3.1.1."""

from __future__ import annotations

import asyncio

import pytest

from exporter.printer.mqtt import codec as mqtt
from exporter.simulator import mqtt_broker as broker


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
