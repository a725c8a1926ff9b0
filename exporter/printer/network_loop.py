"""The MQTT network loop: one thread drives every printer's paho client with epoll.

Why not the library's `mqtt_start()` (paho's `loop_start()`): that is a thread per printer
waiting in `select.select`, which cannot watch a descriptor numbered 1024 or more, and
each threaded client holds three descriptors (its socket and a wake-up socketpair). Past
~340 printers every new session failed inside paho, silently, retrying forever. A thread
per printer also costs a thousand threads contending for the GIL with the scrape.

Here one thread reads, writes and keeps alive every connection (one descriptor each);
only the blocking part of connecting (TCP connect + TLS handshake, bounded by the connect
timeout) runs in a small pool, so a hung printer holds one pool thread, not the loop.
Everything that touches a connected socket runs in the loop thread (an SSL object must not
be read and written from two threads at once); other threads only queue work for it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import paho.mqtt.client as paho

TICK = 1.0  # seconds between keep-alive checks; paho's own loop uses the same


class NetworkLoop:
    def __init__(self, connect_workers: int = 8, logger: logging.Logger | None = None) -> None:
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
        self._pool = ThreadPoolExecutor(connect_workers, thread_name_prefix="mqtt-connect")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-loop", daemon=True)

    # ---------------------------------------------------------------- any thread

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection (each sends a DISCONNECT) and end the thread."""
        self.call(self._close_all)
        self._stopping.set()
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def connection(self, client: paho.Client, connect_timeout: float, max_delay: float,
                   on_connect_error: Callable[[BaseException], None],
                   established: Callable[[], bool]) -> Connection:
        return Connection(self, client, connect_timeout, max_delay, on_connect_error,
                          established)

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
                pass  # paho already closed it: the kernel dropped it from the epoll set

    def submit(self, fn: Callable[[], object]) -> Future[object]:
        return self._pool.submit(fn)

    def _run(self) -> None:
        next_tick = time.monotonic() + TICK
        while True:
            now = time.monotonic()
            wait = next_tick - now
            if self._timers:
                wait = min(wait, self._timers[0][0] - now)
            for fd, events in self._epoll.poll(max(0.0, wait)):
                if fd == self._wake_r.fileno():
                    self._drain_wake()
                    continue
                connection = self._by_fd.get(fd)
                if connection is not None:
                    self._guard(functools.partial(connection.on_events, events))
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


class Connection:
    """One printer's client on the loop: connect with back-off, serve, close."""

    def __init__(self, loop: NetworkLoop, client: paho.Client, connect_timeout: float,
                 max_delay: float, on_connect_error: Callable[[BaseException], None],
                 established: Callable[[], bool]) -> None:
        self._loop = loop
        self._client = client
        self._connect_timeout = connect_timeout
        self._max_delay = max_delay
        self._on_connect_error = on_connect_error
        self._established = established   # True once the session's CONNACK said yes
        self._outbox: deque[tuple[str, str]] = deque()
        self._delay = 1.0
        self._fd: int | None = None
        self._sock: paho.SocketLike | None = None
        self._mask = 0
        self._connack_deadline = 0.0
        self._connecting = False
        self._closed = False
        self.done = threading.Event()   # set once closed (DISCONNECT sent if connected)

    # ---------------------------------------------------------------- any thread

    def start(self) -> None:
        self._loop.call(self._begin)

    def publish(self, topic: str, payload: str) -> None:
        """Queue a QoS 0 publish; the loop thread sends it."""
        self._outbox.append((topic, payload))
        self._loop.call(self._flush)

    def stop(self, timeout: float | None = None) -> None:
        """DISCONNECT if connected, then forget. Waits at most `timeout` (a connect in
        progress finishes first: at most the connect timeout)."""
        self._loop.call(self.close_now)
        self.done.wait(timeout)

    # --------------------------------------------------------------- loop thread

    def _begin(self) -> None:
        self._loop._connections.add(self)
        self._connect()

    def _connect(self) -> None:
        if self._closed:
            return
        self._connecting = True
        future = self._loop.submit(self._client.reconnect)  # blocking; in the pool
        future.add_done_callback(lambda f: self._loop.call(lambda: self._connected(f)))

    def _connected(self, future: Future[object]) -> None:
        self._connecting = False
        exc = None if future.cancelled() else future.exception()
        if self._closed:
            if exc is None and not future.cancelled():
                self._send_disconnect()
            self.done.set()
            return
        if future.cancelled():
            return
        if exc is not None:
            self._on_connect_error(exc)
            self._retry()
            return
        sock = self._client.socket()
        if sock is None:
            self._retry()
            return
        self._sock, self._fd = sock, sock.fileno()
        self._connack_deadline = time.monotonic() + self._connect_timeout
        self._mask = self._wanted_mask()
        self._loop.register(self._fd, self, self._mask)
        self._flush()

    def on_events(self, events: int) -> None:
        client = self._client
        rc = paho.MQTT_ERR_SUCCESS
        if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
            rc = client.loop_read()
            # Decrypted bytes already buffered in the SSL object do not wake epoll.
            while (rc == paho.MQTT_ERR_SUCCESS and self._sock is client.socket()
                   and isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
                rc = client.loop_read()
        if rc == paho.MQTT_ERR_SUCCESS and events & select.EPOLLOUT:
            rc = client.loop_write()
        self._after(rc)

    def tick(self) -> None:
        if self._fd is None:
            return
        rc = self._client.loop_misc()  # keep-alive pings, and their timeout
        if rc == paho.MQTT_ERR_SUCCESS and not self._established() \
                and time.monotonic() > self._connack_deadline:
            self._on_connect_error(TimeoutError("no CONNACK after the TLS handshake"))
            self._client._sock_close()  # paho has no public way to drop a half-open session
            rc = paho.MQTT_ERR_CONN_LOST
        self._after(rc)

    def _flush(self) -> None:
        if self._fd is None:
            return  # sent once connected; anything queued before is for this session
        while self._outbox:
            topic, payload = self._outbox.popleft()
            # Not in a paho callback and no paho thread: paho writes at once.
            self._client.publish(topic, payload)
        self._after(paho.MQTT_ERR_SUCCESS)

    def _after(self, rc: int) -> None:
        if self._fd is None:
            return
        if rc != paho.MQTT_ERR_SUCCESS or self._client.socket() is not self._sock:
            self._lost()  # paho has called on_disconnect and closed the socket
            return
        mask = self._wanted_mask()
        if mask != self._mask:
            self._mask = mask
            self._loop.modify(self._fd, mask)

    def _wanted_mask(self) -> int:
        return select.EPOLLIN | (select.EPOLLOUT if self._client.want_write() else 0)

    def _lost(self) -> None:
        if self._fd is not None:
            self._loop.unregister(self._fd)
        self._fd, self._sock = None, None
        if self._established():
            self._delay = 1.0  # a session that worked starts the back-off again
        self._retry()

    def _retry(self) -> None:
        if self._closed:
            return
        delay, self._delay = self._delay, min(self._delay * 2, self._max_delay)
        self._loop.call_later(delay, self._connect)

    def close_now(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._outbox.clear()
        self._loop._connections.discard(self)
        if self._connecting:
            return  # _connected() finishes the job when the handshake ends
        self._send_disconnect()
        self.done.set()

    def _send_disconnect(self) -> None:
        client = self._client
        sock = client.socket()
        fd = self._fd if self._fd is not None else (sock.fileno() if sock is not None else None)
        try:
            if client.socket() is not None:
                # Not in a callback, no paho thread: paho writes DISCONNECT at once, closes.
                client.disconnect()
                for _ in range(10):
                    if client.socket() is None or not client.want_write():
                        break
                    client.loop_write()
        except (OSError, ValueError):
            pass
        finally:
            if fd is not None:
                self._loop.unregister(fd)
            if client.socket() is not None:
                client._sock_close()
            self._fd, self._sock = None, None
