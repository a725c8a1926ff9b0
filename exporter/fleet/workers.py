"""Worker processes sharing this exporter's printers (--workers N), seen from the main
process.

Each worker (fleet.worker_process) owns the printers a stable hash of the serial gives
it (fleet.assignment): their sessions, network loop, merging and line rendering, on its
own GIL. The main process reads the list, hands each worker its rows over its pipe,
asks every worker for its lines on a scrape and joins them (families in catalogue order,
each worker's printers in turn under each family: metrics.collector).

A worker that dies is restarted (its printers reconnect) and counted in
worker_restarts; until it answers again its printers are rendered here as not up
(OFFLINE) from what the last answers said of them, never left out.

No wait on a worker outlasts reply_timeout: a scrape (or the landing page) sends its
request to every worker, then waits for all the answers together until one deadline
(fleet.worker_channel reads and writes under deadlines). A worker that misses it is
killed and restarted the same way, and its printers are rendered OFFLINE with the reason:
its sessions go down with it, so its last lines would show printers as up that nobody
is watching. A worker still starting (no answer yet) is given start-up time before that.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import exporter
from exporter.fleet.assignment import worker_of
from exporter.fleet.worker_channel import ChannelClosed, WorkerChannel
from exporter.fleet.worker_messages import LINES, PING, RECORDS, STATUSES, STOP, TEXTS, WorkerSetup
from exporter.inventory.record import PrinterRecord
from exporter.metrics.printer_lines import FleetLines, PrinterLines
from exporter.printer.error_texts import TextLookup
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.status import PrinterStatus, offline_status

WORKER_DOWN = "its worker process is restarting"
WORKER_STARTING = "its worker process is starting"
WORKER_STUCK = "its worker process did not answer in time; restarting it"

DEFAULT_REPLY_TIMEOUT = 3.0
# A worker imports the exporter and opens its sessions before its first answer; on a
# loaded machine that can take longer than a scrape may wait. Missing a scrape then
# shows its printers OFFLINE ("starting") without killing it.
START_GRACE = 30.0

# Environment variables a worker may inherit: what Python, the dynamic loader and the C
# library need. Nothing else (the DB_* password, BAMBU_DATABASE_URL, ...) reaches a worker.
_ENV_KEEP = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "LD_LIBRARY_PATH")
_ENV_KEEP_PREFIXES = ("PYTHON", "LC_")


def worker_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items()
           if k in _ENV_KEEP or k.startswith(_ENV_KEEP_PREFIXES)}
    # Importable from wherever the exporter was started (a checkout or an install).
    package_root = str(Path(exporter.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


class _Worker:
    """One worker process and its channel.

    `lock` covers the state below and is never held across a wait (sends only queue).
    At most one thread reads the channel at a time (`reading`), outside the lock; the
    answers it reads for other waiters are filed in `answers` and `answered` wakes them.
    """

    def __init__(self, index: int) -> None:
        self.index = index
        self.lock = threading.Lock()
        self.answered = threading.Condition(self.lock)
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: WorkerChannel | None = None
        self.records: list[PrinterRecord] = []     # its slice of the list
        self.sent: list[PrinterRecord] | None = None   # what the running process holds
        self.texts_sent: int | None = None   # generation of the HMS texts it holds
        self.started = 0.0
        self.ready = False   # the running process has answered once
        self.next_id = 0
        self.awaited: set[int] = set()   # request ids someone waits for
        self.answers: dict[int, tuple[Any, ...]] = {}
        self.reading = False
        self.retired: list[WorkerChannel] = []   # closed once nobody reads them
        self.killed: subprocess.Popen[bytes] | None = None   # the process we killed, once
        self.backoff = 0.0
        self.restart_at = 0.0
        self.offline = PrinterLines()   # its printers' lines while it is down
        self.offline_lock = threading.Lock()   # serialises that cache

    def alive(self) -> bool:
        return (self.process is not None and self.channel is not None
                and self.process.poll() is None)


class WorkerPool:
    """N worker processes behind the RenderedFleet interface of metrics.collector."""

    def __init__(self, workers: int, setup: WorkerSetup,
                 reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
                 logger: logging.Logger | None = None,
                 texts: TextLookup | None = None) -> None:
        if workers < 2:
            raise ValueError("a WorkerPool is for 2 or more workers; 1 runs in-process")
        self._setup = setup
        self._reply_timeout = reply_timeout
        self._texts = texts   # parsed here, handed to each worker as it changes
        self._log = logger or logging.getLogger(__name__)
        self._workers = [_Worker(i) for i in range(workers)]
        self._views: dict[str, PrinterStatus] = {}   # serial -> last known, snapshot-less
        self._owner: dict[str, int] = {}   # serial -> worker index (the hash, remembered)
        self._offline_lock = threading.Lock()
        self._closing = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name="worker-supervisor")
        self._restarts = 0

    @property
    def reply_timeout(self) -> float:
        return self._reply_timeout

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        for worker in self._workers:
            with worker.lock:
                self._spawn(worker)
        self._supervisor.start()

    def _spawn(self, worker: _Worker) -> None:
        """Start worker's process and queue its setup and rows (the supervisor flushes
        them). Holds worker.lock."""
        parent, child = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "exporter.fleet.worker_process", str(child.fileno())],
                pass_fds=(child.fileno(),), env=worker_environment(), stdin=subprocess.DEVNULL)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        channel = WorkerChannel(parent)
        worker.process, worker.channel, worker.started = process, channel, time.monotonic()
        worker.sent, worker.texts_sent, worker.ready = None, None, False
        try:
            channel.send(dataclasses.replace(self._setup, index=worker.index))
            self._send_texts(worker)
            self._send_records(worker)
        except ChannelClosed as exc:
            self._log.error("worker %d (pid %d) did not take its setup: %s", worker.index,
                            process.pid, exc)
        self._log.info("worker %d started (pid %d) with %d printers", worker.index,
                       process.pid, len(worker.records))

    def _send_records(self, worker: _Worker) -> None:
        if worker.channel is not None and worker.sent != worker.records:
            worker.channel.send((RECORDS, 0, list(worker.records)))
            worker.sent = list(worker.records)

    def _send_texts(self, worker: _Worker) -> None:
        if self._texts is None or worker.channel is None:
            return
        generation, table = self._texts.table()
        if worker.texts_sent != generation:
            worker.channel.send((TEXTS, 0, table))
            worker.texts_sent = generation

    def _supervise(self) -> None:
        while not self._closing.wait(0.2):
            for worker in self._workers:
                try:
                    self._check(worker)
                except Exception:  # noqa: BLE001 - the supervisor must outlive one failure
                    self._log.exception("supervising worker %d failed", worker.index)

    def _check(self, worker: _Worker) -> None:
        channel = worker.channel
        if channel is not None and channel.pending:
            try:
                channel.flush()   # what the socket takes now: rows, setup
            except ChannelClosed:
                pass   # the process is going: seen below
        process = worker.process
        if process is None or process.poll() is None:
            if process is None and time.monotonic() >= worker.restart_at:
                with worker.lock:
                    if not self._closing.is_set() and worker.process is None:
                        self._spawn(worker)
            return
        with worker.lock:
            if self._closing.is_set() or worker.process is not process:
                return
            self._log.error("worker %d (pid %d) exited with code %s; restarting it, its %d "
                            "printers are OFFLINE meanwhile", worker.index, process.pid,
                            process.returncode, len(worker.records))
            self._restarts += 1
            self._drop(worker)
            # A worker that dies soon after starting is not restarted in a tight loop.
            lived = time.monotonic() - worker.started
            worker.backoff = 0.0 if lived > 30 else min(30.0, max(0.5, worker.backoff * 2))
            worker.restart_at = time.monotonic() + worker.backoff
            if worker.backoff == 0.0:
                self._spawn(worker)

    def _drop(self, worker: _Worker) -> None:
        """Forget worker's process and channel. Holds worker.lock."""
        if worker.channel is not None:
            if worker.reading:
                worker.retired.append(worker.channel)   # its reader closes it
            else:
                worker.channel.close()
        worker.process, worker.channel, worker.sent, worker.texts_sent = None, None, None, None
        worker.answers.clear()
        worker.answered.notify_all()

    def stopping(self) -> None:
        """The exporter is going down: workers that exit from now on (a SIGTERM sent to
        the whole process group reaches them too) are not restarted."""
        self._closing.set()

    def close(self, timeout: float = 15.0) -> None:
        """Stop every worker: each closes its sessions with a DISCONNECT. Bounded."""
        self._closing.set()
        if self._supervisor.is_alive():
            self._supervisor.join(5)
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            with worker.lock:
                channel = worker.channel if worker.alive() else None
                if channel is not None:
                    try:
                        channel.send((STOP, 0, None))
                    except ChannelClosed:
                        channel = None
            if channel is not None:
                try:
                    channel.flush(min(deadline, time.monotonic() + 1.0))
                except ChannelClosed:
                    pass
        for worker in self._workers:
            process = worker.process
            if process is None:
                continue
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log.error("worker %d (pid %d) did not stop in time; killing it",
                                worker.index, process.pid)
                process.kill()
                process.wait(5)
            with worker.lock:
                self._drop(worker)

    # ------------------------------------------------------------------ the fleet

    def reconcile(self, records: Iterable[PrinterRecord]) -> None:
        records = list(records)
        slices: list[list[PrinterRecord]] = [[] for _ in self._workers]
        owner = self._owner
        for record in records:
            index = owner.get(record.serial)
            if index is None:
                index = owner[record.serial] = worker_of(record.serial, len(self._workers))
            slices[index].append(record)
        if len(owner) > 2 * len(records) + 1000:   # printers come and go: stay bounded
            self._owner = {r.serial: owner[r.serial] for r in records}
        for worker, rows in zip(self._workers, slices, strict=True):
            with worker.lock:
                worker.records = rows
                if worker.alive():
                    try:
                        self._send_records(worker)   # queued: never waits on the worker
                    except ChannelClosed:
                        pass   # dead: the supervisor restarts it with these rows
        serials = {r.serial for r in records}
        with self._offline_lock:
            for serial in [s for s in self._views if s not in serials]:
                del self._views[serial]

    def pids(self) -> list[tuple[int, int]]:
        """(worker index, pid) of every worker process running now."""
        out = []
        for worker in self._workers:
            process = worker.process
            if process is not None and process.poll() is None:
                out.append((worker.index, process.pid))
        return out

    @property
    def worker_restarts(self) -> int:
        return self._restarts

    def __len__(self) -> int:
        return sum(len(worker.records) for worker in self._workers)

    def lines(self, now: float) -> list[FleetLines]:
        """Every worker's part, in worker order (one without an answer rendered here,
        OFFLINE with the reason)."""
        answers = self._ask(LINES, now)
        parts: list[FleetLines] = []
        for worker, (answer, reason) in zip(self._workers, answers, strict=True):
            if answer is None or answer[1] is None:   # no answer, or the request failed
                parts.append(self._offline_lines(worker, reason))
            else:
                parts.append(answer[1])
        return parts

    def silent_workers(self) -> list[int]:
        """The workers that do not answer a ping now (dead, restarting or stuck)."""
        answers = self._ask(PING, None)
        return [worker.index for worker, (answer, _) in zip(self._workers, answers, strict=True)
                if answer is None or answer[1] is not True]

    def statuses(self, now: float) -> list[PrinterStatus]:
        answers = self._ask(STATUSES, now)
        out: list[PrinterStatus] = []
        for worker, (answer, reason) in zip(self._workers, answers, strict=True):
            if answer is None or answer[1] is None:
                out.extend(self._offline_statuses(worker.records, reason))
            else:
                out.extend(answer[1])
        return out

    def _ask(self, kind: str, payload: Any) -> list[tuple[tuple[Any, ...] | None, str]]:
        """Send `kind` to every live worker, then collect the answers until one deadline:
        per worker (its answer, or None and why there is none)."""
        deadline = time.monotonic() + self._reply_timeout
        asked = [self._request(worker, kind, payload) for worker in self._workers]
        return [self._answer(worker, request, deadline) if request is not None
                else (None, WORKER_DOWN)
                for worker, request in zip(self._workers, asked, strict=True)]

    def _request(self, worker: _Worker, kind: str,
                 payload: Any) -> tuple[int, WorkerChannel] | None:
        with worker.lock:
            channel = worker.channel
            if not worker.alive() or channel is None:
                return None
            worker.next_id += 1
            try:
                self._send_texts(worker)   # a re-read file reaches the workers here
                channel.send((kind, worker.next_id, payload))
            except ChannelClosed:
                return None   # dead: the supervisor restarts it
            worker.awaited.add(worker.next_id)
            return worker.next_id, channel

    def _answer(self, worker: _Worker, request: tuple[int, WorkerChannel],
                deadline: float) -> tuple[tuple[Any, ...] | None, str]:
        ident, channel = request
        with worker.lock:
            try:
                while True:
                    if ident in worker.answers:
                        return worker.answers.pop(ident), ""
                    if worker.channel is not channel:
                        return None, WORKER_DOWN   # it died (and was restarted) meanwhile
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None, self._missed(worker)
                    if worker.reading:   # another waiter reads; it files our answer
                        worker.answered.wait(remaining)
                        continue
                    if not self._read_one(worker, channel, deadline):
                        return None, WORKER_DOWN
            finally:
                worker.awaited.discard(ident)

    def _read_one(self, worker: _Worker, channel: WorkerChannel, deadline: float) -> bool:
        """Read one message outside the lock (held on entry and on return) and file it.
        False: the channel is broken."""
        worker.reading = True
        worker.lock.release()
        message: Any = None
        broken = False
        try:
            message = channel.recv(deadline)
        except TimeoutError:
            pass
        except ChannelClosed as exc:
            broken = True
            self._log.debug("worker %d: %s", worker.index, exc)
        finally:
            worker.lock.acquire()
            worker.reading = False
            for old in worker.retired:
                old.close()
            worker.retired.clear()
            worker.answered.notify_all()
        if broken:
            if worker.channel is channel and worker.process is not None:
                worker.process.kill()   # a stream it broke is of no further use
            return False
        if message is not None:
            if len(message) == 3 and isinstance(message[1], FleetLines):
                self._remember(message[2])   # views from late answers count too
            worker.ready = True
            if message[0] in worker.awaited:
                worker.answers[message[0]] = tuple(message)
                worker.answered.notify_all()
        return True

    def _missed(self, worker: _Worker) -> str:
        """No answer by the deadline (worker.lock held): kill it, unless it is still
        starting. Returns the reason its printers are OFFLINE."""
        process = worker.process
        if process is None:
            return WORKER_DOWN
        if not worker.ready and time.monotonic() - worker.started < START_GRACE:
            return WORKER_STARTING
        if worker.killed is not process:
            worker.killed = process
            self._log.error("worker %d (pid %d) did not answer within %.1fs; killing it (it "
                            "is restarted, its %d printers are OFFLINE meanwhile)",
                            worker.index, process.pid, self._reply_timeout,
                            len(worker.records))
            process.kill()
        return WORKER_STUCK

    def _remember(self, views: list[PrinterStatus]) -> None:
        with self._offline_lock:
            for view in views:
                self._views[view.serial] = view

    def _offline_statuses(self, records: list[PrinterRecord],
                          reason: str = WORKER_DOWN) -> list[PrinterStatus]:
        with self._offline_lock:
            return [offline_status(record, reason, self._views.get(record.serial),
                                   OfflineReason.WORKER)
                    for record in records]

    def _offline_lines(self, worker: _Worker, reason: str) -> FleetLines:
        with worker.offline_lock:
            return worker.offline.render(self._offline_statuses(worker.records, reason))
