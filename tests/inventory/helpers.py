"""Helpers for inventory tests: network faults on loopback (a server that accepts TCP
and never answers, a proxy to a real server that can go silent mid-connection) and
small database chores."""

from __future__ import annotations

import socket
import threading
from typing import Any


class SilentServer:
    """Accepts connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._accepted.append(conn)  # kept open, never read or answered

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def close(self) -> None:
        self._sock.close()
        for conn in self._accepted:
            conn.close()


class FreezableProxy:
    """Forwards 127.0.0.1:port to a real server. freeze() stops passing bytes either
    way while keeping every socket open: a server that hangs on a kept connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thaw = threading.Event()
        self._thaw.set()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._thaw.clear()

    def thaw(self) -> None:
        self._thaw.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._thaw.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._thaw.set()
        self._sock.close()
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass


def insert_printers(cluster: Any, dbname: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert (name, ip, serial, access_code) rows into the printers table."""
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id,"
                        " access_code) VALUES (%s, %s, %s, %s)", rows)
    conn.close()


def execute(cluster: Any, dbname: str, sql: str) -> None:
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def wait_until(predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll for something another process or thread brings about."""
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
