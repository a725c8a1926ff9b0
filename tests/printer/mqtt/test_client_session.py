"""mqtt_client.ClientSession and mqtt.PacketReader: a printer's MQTT session as bytes in
and bytes out, without a network (the sessions against the simulator are in
test_session.py and test_network_loop.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.mqtt import codec as mqtt
from exporter.printer.mqtt.client_session import MAX_BODY, ClientSession, SessionLost
from exporter.simulator import mqtt_broker as broker

TOPIC = "device/01P00A000000001/report"


class Recorder:
    def __init__(self) -> None:
        self.connacks: list[int] = []
        self.messages: list[bytes] = []
        self.oversized: list[int] = []

    def session(self, keepalive: int = 60) -> ClientSession:
        session = ClientSession(TOPIC, keepalive, self.connacks.append, self.messages.append,
                                self.oversized.append)
        session.connect("bblp", "12345678", 0.0)
        return session


def sent(session: ClientSession) -> list[tuple[int, int, bytes | None]]:
    """The packets queued so far, taken out of the outbox."""
    packets = mqtt.PacketReader().feed(bytes(session.outbox))
    session.outbox.clear()
    return packets


def test_connect_then_subscribe_once_accepted() -> None:
    rec = Recorder()
    session = rec.session()
    [(kind, _, body)] = sent(session)
    assert kind == mqtt.CONNECT and body is not None
    hello = broker.parse_connect(body)
    assert (hello.username, hello.password, hello.keepalive) == ("bblp", "12345678", 60)
    session.received(broker.connack(mqtt.ACCEPTED), 1.0)
    assert session.established and rec.connacks == [0]
    [(kind, flags, body)] = sent(session)
    assert kind == mqtt.SUBSCRIBE and body is not None
    assert broker.parse_subscribe(body).topics == [(TOPIC, 0)]


def test_a_refused_session_is_not_established_and_subscribes_to_nothing() -> None:
    rec = Recorder()
    session = rec.session()
    sent(session)
    session.received(broker.connack(mqtt.NOT_AUTHORIZED), 1.0)
    assert not session.established and session.refused == 5 and rec.connacks == [5]
    assert sent(session) == []


def test_reports_on_the_topic_are_taken_others_not() -> None:
    rec = Recorder()
    session = rec.session()
    session.received(broker.connack(0) + mqtt.publish(TOPIC, b'{"print": {}}')
                     + mqtt.publish("device/other/report", b"{}")
                     + mqtt.publish(TOPIC, b"second"), 1.0)
    assert rec.messages == [b'{"print": {}}', b"second"]


def test_qos_1_and_2_are_acknowledged() -> None:
    rec = Recorder()
    session = rec.session()
    session.received(broker.connack(0), 1.0)
    sent(session)
    session.received(mqtt.publish(TOPIC, b"one", qos=1, packet_id=7)
                     + mqtt.publish(TOPIC, b"two", qos=2, packet_id=8)
                     + mqtt.ack(mqtt.PUBREL, 8), 2.0)
    assert rec.messages == [b"one", b"two"]
    assert [(k, body) for k, _, body in sent(session)] == [
        (mqtt.PUBACK, b"\x00\x07"), (mqtt.PUBREC, b"\x00\x08"), (mqtt.PUBCOMP, b"\x00\x08")]


def test_a_report_too_large_is_passed_over_unread_and_the_next_is_taken() -> None:
    rec = Recorder()
    session = rec.session()
    session.received(broker.connack(0), 1.0)
    huge = mqtt.publish(TOPIC, b"x" * (MAX_BODY + 10))
    after = mqtt.publish(TOPIC, b"small")
    stream = huge + after
    for start in range(0, len(stream), 64 * 1024):
        session.received(stream[start:start + 64 * 1024], 2.0)
    assert rec.oversized == [MAX_BODY] and rec.messages == [b"small"]
    assert len(session._reader._buffer) < 64 * 1024   # never held the large one


def test_keepalive_pings_after_silence_and_gives_up_without_an_answer() -> None:
    rec = Recorder()
    session = rec.session(keepalive=60)
    session.received(broker.connack(0), 0.0)
    sent(session)
    session.keepalive(59.0)
    assert sent(session) == []
    session.keepalive(60.0)
    assert [k for k, _, _ in sent(session)] == [mqtt.PINGREQ]
    session.received(broker.pingresp(), 61.0)
    session.keepalive(119.0)
    assert sent(session) == []           # answered: nothing due yet
    session.keepalive(120.0)
    assert [k for k, _, _ in sent(session)] == [mqtt.PINGREQ]
    session.keepalive(179.0)             # that PINGREQ unanswered, but not for 60 s yet
    with pytest.raises(SessionLost) as lost:
        session.keepalive(180.0)
    assert lost.value.reason == "keepalive"


def test_bytes_that_are_not_mqtt_end_the_session() -> None:
    session = Recorder().session()
    with pytest.raises(SessionLost) as lost:
        session.received(b"\x30\xff\xff\xff\xff\x01", 1.0)   # a 5-byte remaining length
    assert lost.value.reason == "protocol"
    session = Recorder().session()
    with pytest.raises(SessionLost):
        session.received(mqtt.encode(mqtt.PUBLISH, 0, b"\x00\x09ab"), 1.0)  # topic cut


PACKETS = st.lists(st.tuples(st.sampled_from([TOPIC, "a/b"]), st.binary(max_size=300),
                             st.integers(0, 1)), max_size=8)


@settings(max_examples=150, deadline=None, database=None)
@given(PACKETS, st.lists(st.integers(1, 400), max_size=40))
def test_packets_come_out_whole_however_the_stream_is_cut(
        packets: list[tuple[str, bytes, int]], cuts: list[int]) -> None:
    stream = b"".join(mqtt.publish(topic, payload, qos, 5 if qos else None)
                      for topic, payload, qos in packets)
    reader = mqtt.PacketReader()
    got: list[tuple[int, int, bytes | None]] = []
    pos = 0
    for size in cuts + [len(stream)]:
        got += reader.feed(stream[pos:pos + size])
        pos += size
    got += reader.feed(stream[pos:])
    assert len(got) == len(packets)
    for (kind, flags, body), (topic, payload, qos) in zip(got, packets, strict=True):
        assert kind == mqtt.PUBLISH and body is not None
        parsed_topic, packet_id, parsed_payload = mqtt.publish_topic(flags, body)
        assert (parsed_topic, parsed_payload) == (topic.encode(), payload)
        assert packet_id == (5 if qos else None)
