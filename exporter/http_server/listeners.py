"""The web server's listening sockets: one per --web.listen-address, bound here."""

from __future__ import annotations

import socket
from collections.abc import Iterable


def bind_listeners(addresses: Iterable[tuple[str, int]], backlog: int) -> list[socket.socket]:
    """A listening socket per (host, port); on an error none stays open (OSError, its
    message naming the address)."""
    sockets: list[socket.socket] = []
    try:
        for host, port in addresses:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(backlog)
            except OSError as exc:
                shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                raise OSError(exc.errno, f"{shown}: {exc.strerror or exc}") from None
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def describe_address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
