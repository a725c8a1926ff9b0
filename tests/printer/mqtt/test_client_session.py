"""mqtt_client.ClientSession and mqtt.PacketReader: a printer's MQTT session as bytes in
and bytes out, without a network (the sessions against the simulator are in
test_session.py and test_network_loop.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.mqtt import codec as mqtt
from exporter.printer.mqtt.client_session import MAX_BODY, MAX_OUTBOX, ClientSession, SessionLost
from exporter.printer.offline_reason import OfflineReason
from exporter.simulator import mqtt_broker as broker

pytestmark = pytest.mark.tier("unit")

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
    assert lost.value.reason is OfflineReason.TIMEOUT and "PINGRESP" in str(lost.value)


def test_bytes_that_are_not_mqtt_end_the_session() -> None:
    session = Recorder().session()
    with pytest.raises(SessionLost) as lost:
        session.received(b"\x30\xff\xff\xff\xff\x01", 1.0)   # a 5-byte remaining length
    assert lost.value.reason is OfflineReason.PROTOCOL
    session = Recorder().session()
    session.received(broker.connack(0), 1.0)
    with pytest.raises(SessionLost) as lost:
        session.received(mqtt.encode(mqtt.PUBLISH, 0, b"\x00\x09ab"), 1.0)  # topic cut
    assert lost.value.reason is OfflineReason.PROTOCOL and "topic" in str(lost.value)


def subscribed(rec: Recorder) -> tuple[ClientSession, int]:
    """A session past CONNACK, with its SUBSCRIBE's packet id."""
    session = rec.session()
    session.received(broker.connack(0), 1.0)
    [_, (kind, _, body)] = sent(session)
    assert kind == mqtt.SUBSCRIBE and body is not None
    return session, broker.parse_subscribe(body).packet_id


def test_suback_for_the_subscription_is_taken() -> None:
    session, packet_id = subscribed(Recorder())
    assert not session.subscribed
    session.received(broker.suback(packet_id, [0]), 2.0)
    assert session.subscribed


def test_a_refused_subscription_ends_the_session_as_refused() -> None:
    session, packet_id = subscribed(Recorder())
    with pytest.raises(SessionLost) as lost:
        session.received(broker.suback(packet_id, [0x80]), 2.0)
    assert lost.value.reason is OfflineReason.REFUSED
    assert "refused the subscription" in str(lost.value) and TOPIC in str(lost.value)
    assert not session.subscribed


# Every way a server can break MQTT 3.1.1 towards a client, each ending the session as
# "protocol", with words that say what it was.
VIOLATIONS = {
    "qos 3": (mqtt.encode(mqtt.PUBLISH, 0x06, mqtt.publish(TOPIC, b"{}")[2:]), "QoS 3"),
    "second connack": (broker.connack(0), "second CONNACK"),
    "reserved bits on suback": (mqtt.encode(mqtt.SUBACK, 0x01, b"\x00\x01\x00"),
                                "reserved flag bits"),
    "reserved bits on pingresp": (mqtt.encode(mqtt.PINGRESP, 0x08, b""), "reserved flag bits"),
    "reserved bits on puback": (mqtt.encode(mqtt.PUBACK, 0x02, b"\x00\x01"),
                                "reserved flag bits"),
    "pubrel without its bit": (mqtt.encode(mqtt.PUBREL, 0x00, b"\x00\x01"),
                               "reserved flag bits"),
    "connect from a server": (mqtt.connect("x"), "CONNECT packet, which a server never sends"),
    "subscribe from a server": (mqtt.subscribe(3, "a/b"), "SUBSCRIBE packet"),
    "unsubscribe from a server": (mqtt.encode(mqtt.UNSUBSCRIBE, 0x02, b"\x00\x01\x00\x01a"),
                                  "UNSUBSCRIBE packet"),
    "pingreq from a server": (mqtt.pingreq(), "PINGREQ packet"),
    "disconnect from a server": (mqtt.disconnect(), "DISCONNECT packet"),
    "reserved type 0": (mqtt.encode(0, 0, b""), "reserved type 0"),
    "reserved type 15": (mqtt.encode(15, 0, b""), "reserved type 15"),
    "suback for an unknown id": (broker.suback(4242, [0]), "packet id 4242"),
    "suback without codes": (mqtt.encode(mqtt.SUBACK, 0, b"\x00\x01"), "without a return code"),
    "suback code 0x03": (None, "return code 0x03"),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_each_protocol_violation_ends_the_session_saying_what_it_was(name: str) -> None:
    rec = Recorder()
    session, packet_id = subscribed(rec)
    packet, words = VIOLATIONS[name]
    if packet is None:
        packet = broker.suback(packet_id, [3])
    with pytest.raises(SessionLost) as lost:
        session.received(packet, 2.0)
    assert lost.value.reason is OfflineReason.PROTOCOL
    assert words in str(lost.value)
    assert rec.connacks == [0]   # a second CONNACK is not taken as one


def test_anything_but_connack_first_is_a_violation() -> None:
    session = Recorder().session()
    with pytest.raises(SessionLost) as lost:
        session.received(mqtt.publish(TOPIC, b"{}"), 1.0)
    assert lost.value.reason is OfflineReason.PROTOCOL and "before CONNACK" in str(lost.value)


def test_a_connack_flood_is_one_connack_then_a_violation() -> None:
    rec = Recorder()
    session = rec.session()
    sent(session)
    with pytest.raises(SessionLost) as lost:
        session.received(broker.connack(0) * 1000, 1.0)
    assert lost.value.reason is OfflineReason.PROTOCOL
    assert rec.connacks == [0]
    assert len(session.outbox) < 100   # one SUBSCRIBE, not a thousand


def test_the_outbox_is_bounded_when_the_printer_reads_nothing() -> None:
    session, packet_id = subscribed(Recorder())
    session.received(broker.suback(packet_id, [0]), 2.0)
    with pytest.raises(SessionLost) as lost:
        for packet_id in range(1, 100000):   # QoS 1 publishes, each owed a PUBACK
            session.received(mqtt.publish(TOPIC, b"{}", qos=1, packet_id=packet_id), 3.0)
    assert lost.value.reason is OfflineReason.TIMEOUT and "unread" in str(lost.value)
    assert len(session.outbox) <= MAX_OUTBOX
    with pytest.raises(SessionLost):
        session.publish("device/x/request", b"x" * 100, 4.0)
    session.disconnect(5.0)   # the goodbye is never refused


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
