"""Worker processes sharing this exporter's printers (--workers N), seen from the main
process.

Each worker (fleet.worker_process) owns the printers a stable hash of the serial gives
it (fleet.assignment): their sessions, network loop, merging and line rendering, on its
own GIL. The main process reads the list, hands each worker its rows over its pipe,
asks every worker for its lines on a scrape and joins them (families in catalogue order,
each worker's printers in turn under each family: metrics.collector).

A worker that dies is restarted (its printers reconnect) and counted in
worker_restarts; until it answers again its printers are rendered here as not up
(OFFLINE) from what the last answers said of them, never left out. A worker that does
not answer a request in time (reply_timeout) is killed and restarted the same way.
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
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import exporter
from exporter.fleet.assignment import worker_of
from exporter.fleet.worker_messages import LINES, RECORDS, STATUSES, STOP, WorkerSetup
from exporter.inventory.record import PrinterRecord
from exporter.metrics.printer_lines import FleetLines, PrinterLines
from exporter.printer.snapshot import model_from_serial
from exporter.printer.status import PrinterStatus

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
    """One worker process and its pipe; `lock` covers a request and its answer."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.records: list[PrinterRecord] = []     # its slice of the list
        self.sent: list[PrinterRecord] | None = None   # what the running process holds
        self.started = 0.0
        self.next_id = 0
        self.backoff = 0.0
        self.restart_at = 0.0
        self.offline = PrinterLines()   # its printers' lines while it is down

    def alive(self) -> bool:
        return self.process is not None and self.conn is not None and self.process.poll() is None


class WorkerPool:
    """N worker processes behind the RenderedFleet interface of metrics.collector."""

    def __init__(self, workers: int, setup: WorkerSetup, reply_timeout: float = 10.0,
                 logger: logging.Logger | None = None) -> None:
        if workers < 2:
            raise ValueError("a WorkerPool is for 2 or more workers; 1 runs in-process")
        self._setup = setup
        self._reply_timeout = reply_timeout
        self._log = logger or logging.getLogger(__name__)
        self._workers = [_Worker(i) for i in range(workers)]
        self._views: dict[str, PrinterStatus] = {}   # serial -> last known, snapshot-less
        self._owner: dict[str, int] = {}   # serial -> worker index (the hash, remembered)
        self._offline_lock = threading.Lock()
        self._closing = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name="worker-supervisor")
        self._restarts = 0

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        for worker in self._workers:
            with worker.lock:
                self._spawn(worker)
        self._supervisor.start()

    def _spawn(self, worker: _Worker) -> None:
        """Start worker's process and give it its setup and rows. Holds worker.lock."""
        parent, child = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "exporter.fleet.worker_process", str(child.fileno())],
                pass_fds=(child.fileno(),), env=worker_environment(), stdin=subprocess.DEVNULL)
        finally:
            child.close()
        conn = Connection(parent.detach())
        worker.process, worker.conn, worker.started = process, conn, time.monotonic()
        worker.sent = None
        try:
            conn.send(dataclasses.replace(self._setup, index=worker.index))
            self._send_records(worker)
        except OSError as exc:
            self._log.error("worker %d (pid %d) did not take its setup: %s", worker.index,
                            process.pid, exc)
        self._log.info("worker %d started (pid %d) with %d printers", worker.index,
                       process.pid, len(worker.records))

    def _send_records(self, worker: _Worker) -> None:
        if worker.conn is not None and worker.sent != worker.records:
            worker.conn.send((RECORDS, 0, list(worker.records)))
            worker.sent = list(worker.records)

    def _supervise(self) -> None:
        while not self._closing.wait(0.2):
            for worker in self._workers:
                try:
                    self._check(worker)
                except Exception:  # noqa: BLE001 - the supervisor must outlive one failure
                    self._log.exception("supervising worker %d failed", worker.index)

    def _check(self, worker: _Worker) -> None:
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
        if worker.conn is not None:
            worker.conn.close()
        worker.process, worker.conn, worker.sent = None, None, None

    def stopping(self) -> None:
        """The exporter is going down: workers that exit from now on (a SIGTERM sent to
        the whole process group reaches them too) are not restarted."""
        self._closing.set()

    def close(self, timeout: float = 15.0) -> None:
        """Stop every worker: each closes its sessions with a DISCONNECT. Bounded."""
        self._closing.set()
        if self._supervisor.is_alive():
            self._supervisor.join(5)
        for worker in self._workers:
            with worker.lock:
                if worker.alive():
                    assert worker.conn is not None
                    try:
                        worker.conn.send((STOP, 0, None))
                    except OSError:
                        pass
        deadline = time.monotonic() + timeout
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
                        self._send_records(worker)
                    except OSError:
                        pass   # dead: the supervisor restarts it with these rows
        serials = {r.serial for r in records}
        with self._offline_lock:
            for serial in [s for s in self._views if s not in serials]:
                del self._views[serial]

    @property
    def worker_restarts(self) -> int:
        return self._restarts

    def __len__(self) -> int:
        return sum(len(worker.records) for worker in self._workers)

    def lines(self, now: float) -> list[FleetLines]:
        """Every worker's part, in worker order (a dead one's rendered here, OFFLINE)."""
        answers = self._ask(LINES, now)
        parts: list[FleetLines] = []
        for worker, answer in zip(self._workers, answers, strict=True):
            if answer is None or answer[1] is None:   # no answer, or the request failed
                parts.append(self._offline_lines(worker))
            else:
                parts.append(answer[1])
        return parts

    def statuses(self, now: float) -> list[PrinterStatus]:
        answers = self._ask(STATUSES, now)
        out: list[PrinterStatus] = []
        for worker, answer in zip(self._workers, answers, strict=True):
            if answer is None or answer[1] is None:
                out.extend(self._offline_statuses(worker.records))
            else:
                out.extend(answer[1])
        return out

    def _ask(self, kind: str, payload: Any) -> list[tuple[Any, ...] | None]:
        """Send `kind` to every live worker, then collect the answers (None: no answer in
        time, or no worker). Workers' locks are taken in index order."""
        workers = self._workers
        asked: list[int | None] = []
        for worker in workers:
            worker.lock.acquire()
        try:
            for worker in workers:
                ident = None
                if worker.alive():
                    assert worker.conn is not None
                    worker.next_id += 1
                    try:
                        worker.conn.send((kind, worker.next_id, payload))
                        ident = worker.next_id
                    except OSError:
                        pass
                asked.append(ident)
            deadline = time.monotonic() + self._reply_timeout
            return [self._answer(worker, ident, deadline) if ident is not None else None
                    for worker, ident in zip(workers, asked, strict=True)]
        finally:
            for worker in workers:
                worker.lock.release()

    def _answer(self, worker: _Worker, ident: int, deadline: float) -> tuple[Any, ...] | None:
        conn = worker.conn
        assert conn is not None
        try:
            while conn.poll(max(0.0, deadline - time.monotonic())):
                answer = conn.recv()
                if len(answer) == 3 and isinstance(answer[1], FleetLines):
                    self._remember(answer[2])   # views from late answers count too
                if answer[0] == ident:
                    return tuple(answer)
        except (EOFError, OSError):
            return None   # died: the supervisor restarts it
        # A worker this slow is stuck; a late answer would also leave the pipe out of step.
        self._log.error("worker %d did not answer within %.1fs; killing it (it is restarted, "
                        "its printers are OFFLINE meanwhile)", worker.index, self._reply_timeout)
        if worker.process is not None:
            worker.process.kill()
        return None

    def _remember(self, views: list[PrinterStatus]) -> None:
        with self._offline_lock:
            for view in views:
                self._views[view.serial] = view

    def _offline_statuses(self, records: list[PrinterRecord]) -> list[PrinterStatus]:
        with self._offline_lock:
            return [offline_status(record, self._views.get(record.serial)) for record in records]

    def _offline_lines(self, worker: _Worker) -> FleetLines:
        # Called under worker.lock, which serialises the worker's offline cache.
        return worker.offline.render(self._offline_statuses(worker.records))


WORKER_DOWN = "its worker process is restarting"
WORKER_DOWN_REASON = "worker"   # the landing page's words for it: web.attention.REASONS


def offline_status(record: PrinterRecord, view: PrinterStatus | None) -> PrinterStatus:
    """A printer whose worker is down: not up, with what was last known of it."""
    if view is not None:
        return dataclasses.replace(view, name=record.name, ip=record.ip, up=False,
                                   connected=False, snapshot=None, last_error=WORKER_DOWN,
                                   last_error_reason=WORKER_DOWN_REASON)
    return PrinterStatus(name=record.name, serial=record.serial, ip=record.ip,
                         model=model_from_serial(record.serial) or "unknown", firmware="",
                         up=False, connected=False, last_report=None, snapshot=None,
                         last_error=WORKER_DOWN, last_error_reason=WORKER_DOWN_REASON)
