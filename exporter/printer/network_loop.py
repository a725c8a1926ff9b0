"""The MQTT network loop: one thread drives every printer's connection with epoll.

It reads, writes and keeps alive every connection (one descriptor each), and connects
them too: the TCP connect and the TLS handshake are non-blocking steps bounded by a timer,
so a printer that never answers its ClientHello holds one descriptor and one timer,
nothing another printer waits for. On the finished TLS socket the MQTT session
(mqtt.client_session.ClientSession, bytes in and out) sends CONNECT. Only host names are
looked up off the loop (resolver.py). Everything that touches a socket runs in the loop
thread (an SSL object must not be used from two threads); other threads queue work for
it. docs/architecture.md says why not paho's threaded loop.
"""

from __future__ import annotations

import enum
import errno
import heapq
import ipaddress
import itertools
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from exporter.printer.backoff import Backoff
from exporter.printer.mqtt.certificate import CertificateRejected
from exporter.printer.mqtt.client_session import ClientSession, SessionLost
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.resolver import Address, Resolver

TICK = 1.0  # seconds between keep-alive checks; paho's own loop uses the same
# A session that has lived this long without a usable report still resets the back-off:
# a printer that drops every session right after CONNACK is retried ever more slowly,
# one that is merely quiet for a minute is not punished on its next drop.
PROVEN_AFTER = 60.0
# Commands waiting for a session (any thread queues them); past this the oldest go: a
# printer that never comes up must not gather pushalls without end.
MAX_COMMANDS = 64
# Shortest time between two wake-ups of the loop: each costs a context switch, a system
# call and a round of the loop whatever it brings, and 10 ms is nothing next to the
# second a report may take to reach /metrics.
BATCH_INTERVAL = 0.010


# One network loop thread serves every printer, and hands the GIL to a CPU-bound scrape
# each time it makes a system call; with CPython's default 5 ms switch interval it then
# waits up to 5 ms to get it back, too slow for a thousand printers' reports (measured:
# 3 s behind during back-to-back scrapes). 1 ms keeps reports flowing (under 1 s).
GIL_SWITCH_INTERVAL = 0.001


class NetworkLoop:
    def __init__(self, resolver_workers: int = 4, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger(__name__)
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._epoll.register(self._wake_r.fileno(), select.EPOLLIN)
        self._commands: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._by_fd: dict[int, Connection] = {}
        self._connections: set[Connection] = set()
        self._resolver = Resolver(resolver_workers)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-loop", daemon=True)

    # ---------------------------------------------------------------- any thread

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection (each connected one sends a DISCONNECT) and end the
        thread. Nothing here waits on a printer: connects in progress are dropped."""
        self.call(self._close_all)
        self._stopping.set()
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._resolver.stop()

    def connection(self, host: str, port: int, tls_context: ssl.SSLContext,
                   connect_timeout: float, max_delay: float, events: SessionEvents,
                   new_session: Callable[[float], ClientSession],
                   verify_peer: Callable[[ssl.SSLSocket], None] | None = None) -> Connection:
        return Connection(self, host, port, tls_context, connect_timeout,
                          Backoff(1.0, max(1.0, max_delay)), events, new_session, verify_peer)

    def call(self, fn: Callable[[], None]) -> None:
        """Run fn in the loop thread, soon."""
        self._commands.append(fn)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake, or shutting down

    # --------------------------------------------------------------- loop thread

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), fn))

    def register(self, fd: int, connection: Connection, mask: int) -> None:
        self._by_fd[fd] = connection
        self._epoll.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        if self._by_fd.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass  # already closed: the kernel dropped it from the epoll set

    def resolve(self, host: str, port: int) -> Future[list[Address]]:
        """Addresses for a host name, looked up off the loop (resolver.py)."""
        return self._resolver.resolve(host, port)

    def _run(self) -> None:
        next_tick = time.monotonic() + TICK
        woke = 0.0
        while True:
            now = time.monotonic()
            if now - woke < BATCH_INTERVAL and not self._stopping.is_set():
                # Let reports gather: one wake-up for several printers' reports instead
                # of one each (a thousand printers send ~1000 a second).
                time.sleep(BATCH_INTERVAL - (now - woke))
                now = time.monotonic()
            wait = next_tick - now
            if self._timers:
                wait = min(wait, self._timers[0][0] - now)
            ready = self._epoll.poll(max(0.0, wait))
            woke = time.monotonic()
            for fd, events in ready:
                if fd == self._wake_r.fileno():
                    self._drain_wake()
                    continue
                connection = self._by_fd.get(fd)
                if connection is not None:
                    try:   # _guard's work inline: this runs for every report
                        connection.on_events(events)
                    except Exception:  # noqa: BLE001 - one printer's failure must not stop the loop
                        self._log.exception("MQTT network loop: unexpected error")
            while self._commands:
                self._guard(self._commands.popleft())
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._guard(heapq.heappop(self._timers)[2])
            if now >= next_tick:
                next_tick = now + TICK
                for connection in list(self._connections):
                    self._guard(connection.tick)
            if self._stopping.is_set() and not self._commands:
                break
        self._epoll.close()
        self._wake_r.close()
        self._wake_w.close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - one printer's failure must not stop the loop
            self._log.exception("MQTT network loop: unexpected error")

    def _close_all(self) -> None:
        for connection in list(self._connections):
            connection.close_now()


class LocalFailure(Exception):
    """An attempt ended by the exporter's own side, not the printer: out of descriptors
    (EMFILE), memory or threads, or a bug. Counted and retried like any failed attempt;
    it must never escape the loop and strand the printer."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(getattr(cause, "strerror", None) or str(cause)
                         or type(cause).__name__)
        self.cause = cause


class SessionEvents(Protocol):
    """What a connection tells its printer's session, in the loop thread."""

    def connect_failed(self, exc: BaseException) -> None:
        """This attempt ended before a session: look-up, TCP, TLS or no CONNACK in time."""

    def lost(self, reason: OfflineReason, detail: str) -> None:
        """An MQTT session ended, accepted by CONNACK or not yet answered: TIMEOUT,
        PROTOCOL, REFUSED (the subscription), DROPPED or LOCAL. Not called for a session
        CONNACK refused (the CONNACK callback said so)."""


class Phase(enum.Enum):
    WAITING = "waiting"        # between attempts (or not started)
    RESOLVING = "resolving"    # host name lookup in the resolver pool
    TCP = "tcp"                # non-blocking connect() in progress
    TLS = "tls"                # TLS handshake in progress
    MQTT = "mqtt"              # CONNECT sent, or connected
    CLOSED = "closed"


def _ip_address(host: str) -> Address | None:
    """(family, address) when host is an IP literal: no lookup needed."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, (host, 0)


READ_SIZE = 65536   # one read takes a burst of reports; epoll is level-triggered for more


class Connection:
    """One printer's connection on the loop: connect (without blocking), serve the MQTT
    session, back off, close."""

    def __init__(self, loop: NetworkLoop, host: str, port: int, tls_context: ssl.SSLContext,
                 connect_timeout: float, backoff: Backoff, events: SessionEvents,
                 new_session: Callable[[float], ClientSession],
                 verify_peer: Callable[[ssl.SSLSocket], None] | None = None) -> None:
        self._loop = loop
        self.host, self.port = host, port
        self._tls_context = tls_context
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._events = events
        self._new_session = new_session   # a ClientSession with CONNECT queued
        # After the handshake, before CONNECT: CertificateRejected ends the attempt
        self._verify_peer = verify_peer
        self._commands: deque[tuple[str, str]] = deque()   # publishes from any thread
        self._phase = Phase.WAITING
        self._attempt = 0                 # stale timers and lookups check this
        self._addresses: list[Address] = []
        self._raw: socket.socket | ssl.SSLSocket | None = None  # until the MQTT phase
        self._sock: ssl.SSLSocket | None = None   # in the MQTT phase
        self._session: ClientSession | None = None
        self._fd: int | None = None
        self._mask = 0
        self._write_size = 0              # a write TLS asked to repeat (WANT_WRITE)
        self._connack_deadline = 0.0      # then the SUBACK's, once CONNACK accepted
        self._established_at: float | None = None
        self._proven = False              # the back-off was reset for this session
        self.done = threading.Event()   # set once closed (DISCONNECT sent if connected)

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def socket(self) -> ssl.SSLSocket | None:
        """The TLS socket of the MQTT phase (None in other phases)."""
        return self._sock

    # ---------------------------------------------------------------- any thread

    def start(self) -> None:
        self._loop.call(self._begin)

    def publish(self, topic: str, payload: str) -> None:
        """Queue a QoS 0 publish; the loop thread sends it."""
        self._commands.append((topic, payload))
        while len(self._commands) > MAX_COMMANDS:
            self._commands.popleft()
        self._loop.call(self._flush)

    def report_usable(self) -> None:
        """The session delivered a usable report (loop thread, from the message
        callback): the printer works, so the next failure starts the back-off afresh."""
        if not self._proven and self._phase is Phase.MQTT:
            self._proven = True
            self._backoff.reset()

    def stop(self, timeout: float | None = None) -> None:
        """DISCONNECT if connected, then forget. Nothing in it waits on the printer, so
        it takes as long as the loop takes to get to it."""
        self._loop.call(self.close_now)
        self.done.wait(timeout)

    # ------------------------------------------------------- loop thread: connect

    def _begin(self) -> None:
        if self._phase is Phase.CLOSED:
            return
        self._loop._connections.add(self)
        self._connect()

    def _step(self, step: Callable[[], None]) -> None:
        """Run a step of an attempt: whatever it raises ends the attempt as a failure of
        our own (the printer's failures are caught, and classified, inside the steps)."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - e.g. EMFILE from socket(): retry later
            if self._phase in (Phase.RESOLVING, Phase.TCP, Phase.TLS, Phase.WAITING):
                self._failed(LocalFailure(exc))
            elif self._phase is Phase.MQTT:
                self._lost(OfflineReason.LOCAL, str(LocalFailure(exc)))

    def _connect(self) -> None:
        self._step(self._connect_step)

    def _connect_step(self) -> None:
        if self._phase is not Phase.WAITING:
            return
        self._attempt += 1
        attempt = self._attempt
        self._loop.call_later(self._connect_timeout, lambda: self._timed_out(attempt))
        literal = _ip_address(self.host)
        if literal is not None:
            self._addresses = [(literal[0], (self.host, self.port))]
            self._next_address()
            return
        self._phase = Phase.RESOLVING
        future = self._loop.resolve(self.host, self.port)
        future.add_done_callback(
            lambda f: self._loop.call(lambda: self._step(lambda: self._resolved(attempt, f))))

    def _resolved(self, attempt: int, future: Future[list[Address]]) -> None:
        if attempt != self._attempt or self._phase is not Phase.RESOLVING:
            return  # timed out or closed meanwhile
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or exc is not None:
            self._failed(exc or OSError("host name lookup cancelled"))
            return
        self._addresses = future.result()
        if not self._addresses:
            self._failed(OSError(f"no address for {self.host}"))
            return
        self._next_address()

    def _next_address(self) -> None:
        family, address = self._addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        self._raw, self._fd = sock, sock.fileno()
        self._phase = Phase.TCP
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            self._tcp_failed(err)
            return
        self._mask = select.EPOLLOUT
        self._loop.register(self._fd, self, self._mask)

    def _tcp_failed(self, err: int) -> None:
        if self._addresses:  # another address of the same host: try it within the deadline
            self._close_socket()
            self._next_address()
            return
        self._failed(OSError(err, os.strerror(err)))  # errno picks the subclass (refused...)

    def _tcp_ready(self) -> None:
        assert isinstance(self._raw, socket.socket)
        err = self._raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._tcp_failed(err)
            return
        # The same descriptor carries on: wrap_socket takes the socket's fd over.
        self._raw = self._tls_context.wrap_socket(
            self._raw, server_hostname=self.host, do_handshake_on_connect=False)
        self._phase = Phase.TLS
        self._handshake()

    def _handshake(self) -> None:
        sock = self._raw
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._set_mask(select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self._set_mask(select.EPOLLOUT)
            return
        except (OSError, ValueError) as exc:  # SSLError is an OSError
            self._failed(exc)
            return
        if self._verify_peer is not None:
            try:
                self._verify_peer(sock)
            except CertificateRejected as exc:
                self._failed(exc)   # before CONNECT: the access code is never sent
                return
        self._start_mqtt(sock)

    def _start_mqtt(self, sock: ssl.SSLSocket) -> None:
        now = time.monotonic()
        self._raw, self._sock = None, sock
        self._phase = Phase.MQTT
        self._session = self._new_session(now)   # CONNECT queued
        self._write_size = 0
        self._connack_deadline = now + self._connect_timeout
        self._established_at = None
        self._proven = False
        self._flush()

    def _timed_out(self, attempt: int) -> None:
        if attempt == self._attempt and self._phase in (Phase.RESOLVING, Phase.TCP, Phase.TLS):
            self._failed(TimeoutError(
                f"TCP connect and TLS handshake not done within {self._connect_timeout:g}s"))

    def _failed(self, exc: BaseException) -> None:
        """This attempt is over before a session: count it, try again later."""
        self._close_socket()
        self._phase = Phase.WAITING
        self._events.connect_failed(exc)
        self._retry()


    def _unregister(self) -> None:
        if self._fd is not None:
            self._loop.unregister(self._fd)
        self._fd = None

    def _set_mask(self, mask: int) -> None:
        if mask != self._mask and self._fd is not None:
            self._mask = mask
            self._loop.modify(self._fd, mask)

    # ------------------------------------------------------- loop thread: serve

    def on_events(self, events: int) -> None:
        if self._phase is Phase.MQTT:
            if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                self._read()
            if self._phase is Phase.MQTT and (events & select.EPOLLOUT or self._commands):
                self._flush()
        elif self._phase is Phase.TCP:
            self._step(self._tcp_ready)
        elif self._phase is Phase.TLS:
            self._step(self._handshake)

    def _read(self) -> None:
        sock, session = self._sock, self._session
        assert sock is not None and session is not None
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except (OSError, ValueError) as exc:
                self._lost(OfflineReason.DROPPED, str(exc) or type(exc).__name__)
                return
            if not data:
                self._lost(OfflineReason.DROPPED, "connection closed by the printer")
                return
            was_established = session.established
            now = time.monotonic()
            try:
                session.received(data, now)
            except SessionLost as lost:
                self._lost(lost.reason, str(lost))
                return
            if self._phase is not Phase.MQTT:
                return   # closed from a callback
            if session.established and not was_established:
                # The back-off is reset by a usable report (report_usable) or a minute
                # lived, not here: a printer that drops right after CONNACK backs off.
                self._established_at = now
                self._connack_deadline = now + self._connect_timeout   # now the SUBACK's
            elif session.refused:
                self._lost(None, "CONNACK refused the session")   # on_connack counted it
                return
            if session.outbox:
                self._flush()
            # Level-triggered epoll wakes us again for bytes still in the kernel; only
            # those TLS has already decrypted would go unseen.
            if len(data) < READ_SIZE and not sock.pending():
                return

    def _flush(self) -> None:
        """Queue the commands waiting, and write what the session has to send."""
        if self._phase is not Phase.MQTT:
            return  # sent once connected; anything queued before is for this session
        sock, session = self._sock, self._session
        assert sock is not None and session is not None
        if self._commands:
            now = time.monotonic()
            try:
                while self._commands:
                    topic, payload = self._commands.popleft()
                    session.publish(topic, payload.encode(), now)
            except SessionLost as lost:
                self._lost(lost.reason, str(lost))
                return
        error = self._write(sock, session.outbox)
        if error is not None:
            self._lost(OfflineReason.DROPPED, str(error) or type(error).__name__)
            return
        self._set_mask(select.EPOLLIN | (select.EPOLLOUT if session.outbox else 0))

    def _write(self, sock: ssl.SSLSocket, outbox: bytearray) -> Exception | None:
        """Write the outbox until it is empty or TLS has to wait for the socket; the
        error that ended the connection, if one did."""
        while outbox:
            # TLS wants a write it could not finish repeated with the same bytes.
            size = self._write_size or min(len(outbox), READ_SIZE)
            try:
                sent = sock.send(outbox[:size])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                self._write_size = size
                return None
            except (OSError, ValueError) as exc:
                return exc
            self._write_size = 0
            del outbox[:sent]
        return None

    def tick(self) -> None:
        """Every second: the CONNACK and SUBACK deadlines, the back-off reset of a
        session that lived a minute, and keep-alive pings."""
        session = self._session
        if self._phase is not Phase.MQTT or session is None:
            return
        now = time.monotonic()
        if not session.established:
            if now > self._connack_deadline:
                self._close_socket()
                self._phase = Phase.WAITING
                self._events.connect_failed(TimeoutError("no CONNACK after the TLS handshake"))
                self._retry()
            return
        if not session.subscribed and now > self._connack_deadline:
            self._lost(OfflineReason.REFUSED, f"no SUBACK within {self._connect_timeout:g}s: the "
                                              "printer did not accept the subscription")
            return
        if (not self._proven and self._established_at is not None
                and now - self._established_at >= PROVEN_AFTER):
            self._proven = True
            self._backoff.reset()
        try:
            session.keepalive(now)
        except SessionLost as lost:
            self._lost(lost.reason, str(lost))
            return
        if session.outbox:
            self._flush()

    def _lost(self, reason: OfflineReason | None, detail: str) -> None:
        """The MQTT phase is over: tell the session why (reason None: it knows, from a
        refusing CONNACK), retry after the back-off."""
        self._close_socket()
        self._phase = Phase.WAITING
        if reason is not None:
            self._events.lost(reason, detail)
        self._retry()

    def _close_socket(self) -> None:
        """Close the socket of whichever phase holds one (the raw or TLS socket before
        the MQTT phase, the session's in it), and forget the session."""
        self._unregister()
        for sock in (self._raw, self._sock):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self._raw = self._sock = None
        self._session = None
        self._write_size = 0

    def _retry(self) -> None:
        if self._phase is Phase.CLOSED:
            return
        self._loop.call_later(self._backoff.next(), self._connect)

    # ------------------------------------------------------- loop thread: close

    def close_now(self) -> None:
        if self._phase is Phase.CLOSED:
            return
        phase, self._phase = self._phase, Phase.CLOSED
        self._commands.clear()
        self._loop._connections.discard(self)
        if phase is Phase.MQTT:
            self._send_disconnect()
        else:
            self._close_socket()  # no MQTT session yet: nothing to say goodbye to
        self.done.set()

    def _send_disconnect(self) -> None:
        sock, session = self._sock, self._session
        if sock is not None and session is not None:
            session.disconnect(time.monotonic())
            # Best effort, never waiting: a few tries at the (tiny) rest of the outbox.
            for _ in range(10):
                if not session.outbox or self._write(sock, session.outbox) is not None:
                    break
        self._close_socket()
