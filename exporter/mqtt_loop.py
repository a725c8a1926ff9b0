"""Drives one paho MQTT client in its own thread, with poll() instead of paho's loop.

Why not the library's `mqtt_start()` (paho's `loop_start()`): paho's loop waits with
`select.select`, which cannot watch a descriptor numbered 1024 or more, and each threaded
client holds three descriptors (its socket and a wake-up socketpair). Past ~340 printers
in one process every new session fails inside paho, silently, and retries forever.
Here each client uses one descriptor, poll() has no such limit, every failure reaches a
callback, and a connection that never gets its CONNACK is bounded too.

Everything that touches the socket runs in the loop's thread (an SSL object must not be
read and written from two threads at once); `publish()` from other threads only queues.
"""

from __future__ import annotations

import select
import threading
import time
from collections import deque
from typing import Callable

import paho.mqtt.client as paho

POLL_INTERVAL = 1.0  # seconds; also bounds how long a queued publish waits


class ClientLoop:
    def __init__(self, client: paho.Client, name: str, connect_timeout: float,
                 max_delay: float, on_connect_error: Callable[[BaseException], None],
                 established: Callable[[], bool]) -> None:
        self._client = client
        self._connect_timeout = connect_timeout
        self._max_delay = max_delay
        self._on_connect_error = on_connect_error
        self._established = established   # True once the session's CONNACK said yes
        self._outbox: deque[tuple[str, str]] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, topic: str, payload: str) -> None:
        """Queue a QoS 0 publish; the loop thread sends it within POLL_INTERVAL."""
        self._outbox.append((topic, payload))

    def stop(self, timeout: float | None = None) -> None:
        """Send DISCONNECT if connected and end the thread. Waits for it: at most the
        connect timeout when a handshake is in progress, plus one poll interval."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                # TCP connect + TLS handshake (bounded by connect_timeout) + CONNECT.
                self._client.reconnect()
            except (OSError, ValueError) as exc:
                self._on_connect_error(exc)
            else:
                self._serve()
                if self._established():
                    delay = 1.0  # a session that worked starts the back-off again
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self._max_delay)
        self._disconnect()

    def _serve(self) -> None:
        """Until the connection ends or stop(): read, write, keep alive."""
        client = self._client
        poller = select.poll()
        sock = client.socket()
        if sock is None:
            return
        fd = sock.fileno()
        poller.register(fd, select.POLLIN)
        connack_deadline = time.monotonic() + self._connect_timeout
        while not self._stop.is_set():
            while self._outbox:
                topic, payload = self._outbox.popleft()
                client.publish(topic, payload)
            want_write = client.want_write()
            poller.modify(fd, select.POLLIN | (select.POLLOUT if want_write else 0))
            # Decrypted bytes already buffered in the SSL object do not wake poll().
            pending = sock.pending() if hasattr(sock, "pending") else 0
            events = poller.poll(0 if pending else POLL_INTERVAL * 1000)
            flags = 0
            for _, event in events:
                flags |= event
            rc = paho.MQTT_ERR_SUCCESS
            if pending or flags & (select.POLLIN | select.POLLERR | select.POLLHUP):
                rc = client.loop_read()
            if rc == paho.MQTT_ERR_SUCCESS and flags & select.POLLOUT:
                rc = client.loop_write()
            if rc == paho.MQTT_ERR_SUCCESS:
                rc = client.loop_misc()  # keep-alive pings, and their timeout
            if rc != paho.MQTT_ERR_SUCCESS or client.socket() is not sock:
                return  # paho has called on_disconnect and closed the socket
            if not self._established() and time.monotonic() > connack_deadline:
                self._on_connect_error(TimeoutError("no CONNACK after the TLS handshake"))
                client._sock_close()  # paho has no public way to drop a half-open session
                return

    def _disconnect(self) -> None:
        client = self._client
        if client.socket() is None:
            return
        try:
            # Without a loop thread paho writes the DISCONNECT at once, then closes.
            client.disconnect()
            for _ in range(10):
                if client.socket() is None or not client.want_write():
                    break
                client.loop_write()
        except (OSError, ValueError):
            pass
        finally:
            if client.socket() is not None:
                client._sock_close()

