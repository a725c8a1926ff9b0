"""One printer's listener: TLS on port 8883 of its own address, a tiny MQTT server for one
pair of topics. Not a broker: the faults we need (TLS that never completes, a session cut
without DISCONNECT, silence while PINGREQ is answered) live at this level.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Coroutine
from typing import Any

from exporter.printer.mqtt import codec as mqtt
from exporter.simulator import mqtt_broker as broker
from exporter.simulator.faults import Fault
from exporter.simulator.printer import SimulatedPrinter
from exporter.simulator.tls_hello import offers_tls13, record_complete

USERNAME = "bblp"
HANDSHAKE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
# A client that stops reading is cut off rather than buffered without end.
MAX_BUFFERED = 2 * 1024 * 1024


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT wildcard match: '+' one level, '#' the rest."""
    pat, top = pattern.split("/"), topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top) or (part != "+" and part != top[i]):
            return False
    return len(pat) == len(top)


class MqttSession:
    """A connected, authenticated client of one printer."""

    def __init__(self, writer: asyncio.StreamWriter, client_id: str) -> None:
        self.writer = writer
        self.client_id = client_id
        self.subscribed = False

    def send(self, packet: bytes) -> None:
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            self.drop()
            return
        self.writer.write(packet)

    def drop(self) -> None:
        """Cut the connection with no MQTT DISCONNECT, as a printer losing Wi-Fi does."""
        self.writer.transport.abort()


class PrinterListener:
    def __init__(self, printer: SimulatedPrinter, context: ssl.SSLContext, port: int = 8883,
                 drop_after: float = 2.0) -> None:
        self.printer = printer
        self.context = context
        self.port = port
        self.drop_after = drop_after
        self.server: asyncio.Server | None = None
        self.hung = False
        self.accepted = 0   # connections accepted so far (TCP, whatever came after)
        self._writers: set[asyncio.StreamWriter] = set()
        # TLS13_DEAF: a plain socket whose connections are looked at before TLS starts
        self._peeking: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self.server is not None or self._peeking is not None

    async def start(self) -> None:
        """Listen: TLS normally; plain TCP that never answers the ClientHello when hung.
        (Upgrading each connection with start_tls instead would race with the ClientHello
        already read into the stream's buffer, so the mode is chosen per listener.)"""
        if self.server is None and self._peeking is None:
            self.hung = Fault.HUNG in self.printer.faults
            if not self.hung and Fault.TLS13_DEAF in self.printer.faults:
                self._peeking = socket.create_server((self.printer.record.ip, self.port),
                                                     backlog=128, reuse_port=False)
                self._peeking.setblocking(False)
                self._spawn(self._accept_peeking_loop(self._peeking))
            elif self.hung:
                self.server = await asyncio.start_server(
                    self._accept_hung, host=self.printer.record.ip, port=self.port,
                    reuse_address=True, backlog=64)
            else:
                self.server = await asyncio.start_server(
                    self._accept, host=self.printer.record.ip, port=self.port,
                    reuse_address=True, backlog=128, ssl=self.context,
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        """Close the listener and every connection on it (nothing listens afterwards)."""
        server, self.server = self.server, None
        if server is not None:
            server.close()
        peeking, self._peeking = self._peeking, None
        if peeking is not None:
            peeking.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.transport.abort()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_peeking_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError:
                return   # the listener closed
            conn.setblocking(False)
            self._spawn(self._accept_peeking(conn))

    async def _accept_peeking(self, conn: socket.socket) -> None:
        """Look at the ClientHello without taking it off the socket: one offering TLS 1.3
        is never answered; any other goes on to TLS and MQTT as usual."""
        loop = asyncio.get_running_loop()
        self.accepted += 1
        try:
            hello = await asyncio.wait_for(_peek_first_record(conn), HANDSHAKE_TIMEOUT)
            if hello is None:
                conn.close()
                return
            if offers_tls13(hello):
                while await loop.sock_recv(conn, 4096):
                    pass   # read and never answer, until the client gives up
                conn.close()
                return
            reader = asyncio.StreamReader()
            protocol = asyncio.StreamReaderProtocol(reader)
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self.context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
        except (OSError, asyncio.TimeoutError, ssl.SSLError, ConnectionError):
            conn.close()
            return
        except asyncio.CancelledError:
            conn.close()
            raise
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await self._session(reader, writer)

    async def _accept_hung(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        # TCP is up; the TLS ClientHello is read and never answered.
        self.accepted += 1
        self._writers.add(writer)
        try:
            while await reader.read(4096):
                pass
        except (OSError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await self._session(reader, writer)

    async def _session(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                ssl.SSLError, mqtt.ProtocolError, ConnectionError):
            pass  # the client went away or spoke nonsense: that connection ends, nothing else
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        printer = self.printer
        packet = await asyncio.wait_for(broker.read_packet(reader), CONNECT_TIMEOUT)
        if packet.kind != mqtt.CONNECT:
            return
        printer.connects_received += 1
        hello = broker.parse_connect(packet.body)
        if Fault.CLOSE_BEFORE_CONNACK in printer.faults:
            return
        if Fault.ONE_CLIENT in printer.faults and printer.sessions:
            writer.transport.abort()   # busy: the newcomer is dropped, as P1 firmware does
            return
        if hello.protocol != "MQTT" or hello.level != 4:
            writer.write(broker.connack(mqtt.UNACCEPTABLE_PROTOCOL))
            await writer.drain()
            return
        if hello.username != USERNAME or hello.password != printer.record.access_code:
            writer.write(broker.connack(mqtt.NOT_AUTHORIZED))
            await writer.drain()
            return
        writer.write(broker.connack(mqtt.ACCEPTED))
        if Fault.DROP_AT_CONNACK in printer.faults:
            await writer.drain()
            writer.transport.abort()
            return
        if Fault.CONNACK_FLOOD in printer.faults:
            await self._flood_connacks(writer)
            return
        session = MqttSession(writer, hello.client_id)
        printer.sessions.add(session)
        loop = asyncio.get_running_loop()
        cut = loop.call_later(self.drop_after, session.drop) \
            if Fault.DROP in printer.faults else None
        # MQTT 3.1.1: a server may close after 1.5 keepalives without a packet.
        idle_limit = hello.keepalive * 1.5 if hello.keepalive else None
        try:
            while True:
                packet = await asyncio.wait_for(broker.read_packet(reader), idle_limit)
                if not self._handle(packet, session):
                    return
        finally:
            printer.sessions.discard(session)
            if cut is not None:
                cut.cancel()

    @staticmethod
    async def _flood_connacks(writer: asyncio.StreamWriter) -> None:
        """CONNACK after CONNACK, reading nothing, until the client goes (or stops
        reading: the flood then waits for the socket, as a printer's would)."""
        burst = broker.connack(mqtt.ACCEPTED) * 256
        while not writer.transport.is_closing():
            writer.write(burst)
            await writer.drain()
            await asyncio.sleep(0.001)

    def _handle(self, packet: broker.Packet, session: MqttSession) -> bool:
        """One packet from a connected client; False ends the session."""
        printer = self.printer
        kind = packet.kind
        if kind == mqtt.PUBLISH:
            message = broker.parse_publish(packet.flags, packet.body)
            if message.qos == 1 and message.packet_id is not None:
                session.send(mqtt.puback(message.packet_id))
            elif message.qos > 1:
                raise mqtt.ProtocolError("QoS 2 is not supported by printers")
            if message.topic == printer.topic_request:
                printer.handle_request(message.payload, session)
        elif kind == mqtt.SUBSCRIBE:
            sub = broker.parse_subscribe(packet.body)
            if Fault.NO_SUBACK in printer.faults:
                return True
            if Fault.REFUSE_SUBSCRIBE in printer.faults:
                session.send(broker.suback(sub.packet_id, [0x80] * len(sub.topics)))
                return True
            session.send(broker.suback(sub.packet_id, [0] * len(sub.topics)))
            if Fault.BAD_MQTT in printer.faults:   # QoS 3: no such thing
                session.send(mqtt.encode(mqtt.PUBLISH, 0x06, mqtt.publish(
                    printer.topic_report, b"{}")[2:]))
            if any(topic_matches(t, printer.topic_report) for t, _ in sub.topics):
                session.subscribed = True
        elif kind == mqtt.UNSUBSCRIBE:
            packet_id, topics = broker.parse_unsubscribe(packet.body)
            session.send(broker.unsuback(packet_id))
            if any(topic_matches(t, printer.topic_report) for t in topics):
                session.subscribed = False
        elif kind == mqtt.PINGREQ:
            printer.pings += 1
            session.send(broker.pingresp())
        elif kind == mqtt.DISCONNECT:
            printer.disconnects += 1
            return False
        else:
            raise mqtt.ProtocolError(f"unexpected packet type {kind}")
        return True


async def _peek_first_record(conn: socket.socket) -> bytes | None:
    """The first TLS record on a new connection, left unread (MSG_PEEK); None when the
    client closed first."""
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(conn.fileno(), _set_once, ready)
        try:
            await ready
        finally:
            loop.remove_reader(conn.fileno())
        data = conn.recv(16384, socket.MSG_PEEK)
        if not data:
            return None
        if record_complete(data):
            return data
        await asyncio.sleep(0.01)   # the rest of the record is on its way


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
