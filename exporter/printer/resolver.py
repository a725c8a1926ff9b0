"""Host name lookups off the network loop, in a few daemon threads.

`getaddrinfo` has no non-blocking form, so names are looked up here. Not a
ThreadPoolExecutor: Python joins those threads at exit, and one lookup waiting on a
slow DNS server would then hold up shutdown; daemon threads are simply left behind.
"""

from __future__ import annotations

import queue
import socket
import threading
from concurrent.futures import Future

Address = tuple[int, tuple[object, ...]]  # (address family, socket address)


class Resolver:
    def __init__(self, workers: int = 4) -> None:
        self._queue: queue.SimpleQueue[tuple[str, int, Future[list[Address]]] | None] = \
            queue.SimpleQueue()
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def resolve(self, host: str, port: int) -> Future[list[Address]]:
        """The addresses for host, in getaddrinfo's order (stream sockets only)."""
        future: Future[list[Address]] = Future()
        with self._lock:
            if self._stopped:
                future.cancel()
                return future
            if len(self._threads) < self._workers:  # started on first use: most fleets
                thread = threading.Thread(target=self._run, daemon=True,  # list IPs only
                                          name=f"mqtt-resolve-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
        self._queue.put((host, port, future))
        return future

    def stop(self) -> None:
        """No new lookups; the threads end after the one they are in, unwaited."""
        with self._lock:
            self._stopped = True
            threads = len(self._threads)
        for _ in range(threads):
            self._queue.put(None)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            host, port, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:  # socket.gaierror is an OSError
                future.set_exception(exc)
            else:
                future.set_result([(family, address) for family, _, _, _, address in infos])
