"""One worker process: the sessions, network loop, merging and line rendering of the
printers the main process hands it.

Run by fleet.workers as `python -m exporter.fleet.worker_process FD`, FD being its end
of a socket pair; the setup and the printer rows (access codes included) come over it.
It answers LINES and STATUSES requests until STOP, SIGTERM or the main process going
away (end of file on the pipe); each of those closes every session with an MQTT
DISCONNECT. SIGINT is left to the main process, which stops the workers itself.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from exporter.fleet.local_fleet import LocalFleet
from exporter.fleet.open_files import raise_to_hard_limit
from exporter.fleet.sessions import FleetUpkeep, session_fleet
from exporter.fleet.worker_messages import (
    LINES,
    PING,
    RECORDS,
    STATUSES,
    STOP,
    STOPPED,
    TEXTS,
    WorkerSetup,
)
from exporter.logs import configure as configure_logs
from exporter.metrics.memory import Allocator
from exporter.printer.error_texts import TextLookup
from exporter.printer.network_loop import GIL_SWITCH_INTERVAL, NetworkLoop


class _Stop(Exception):
    """SIGTERM: leave the request loop and close the sessions."""


WORKER_CLOSE_WAIT = 2.0
WORKER_LOOP_WAIT = 0.5


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve(conn: Connection) -> int:
    setup = conn.recv()
    if not isinstance(setup, WorkerSetup):
        raise SystemExit(f"worker: expected a WorkerSetup first, got {type(setup).__name__}")
    allocator = Allocator()
    allocator.return_large_allocations()   # each answer is a multi-megabyte string
    configure_logs(setup.log_level, worker=setup.index, log_format=setup.log_format)
    log = logging.getLogger("exporter.worker")
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_stop)

    raise_to_hard_limit()   # the main process raised it already; a worker run alone has not
    network = NetworkLoop()
    network.start()
    fleet = session_fleet(setup.session, network)
    texts = TextLookup()   # filled by the main process (TEXTS), which parses the file
    local = LocalFleet(fleet, log, texts)
    upkeep = FleetUpkeep(fleet)
    upkeep.start()
    why = "main process gone"
    try:
        while True:
            try:
                kind, ident, payload = conn.recv()
            except (EOFError, OSError):
                break
            if kind == STOP:
                why = "asked to stop"
                break
            if kind == TEXTS:
                texts.replace(payload)
                continue
            try:
                answer = _answer(local, kind, ident, payload)
            except Exception:  # noqa: BLE001 - one bad request must not end the worker
                log.exception("request %r failed", kind)
                answer = None if kind == RECORDS else (ident, None)
            if answer is not None:
                conn.send(answer)
                del answer
                if kind == LINES:
                    allocator.trim()   # what rendering freed (memory.py)
    except _Stop:
        why = "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # closing is already under way
        sessions = len(fleet)
        log.info("%s: closing %d printer sessions", why, sessions)
        upkeep.stop()
        # Within the main process's own shutdown bound (cli.SHUTDOWN_SESSIONS_WAIT), so
        # that every DISCONNECT is out before the main process stops waiting.
        fleet.close(timeout=WORKER_CLOSE_WAIT)
        network.stop(timeout=WORKER_LOOP_WAIT)
        try:
            conn.send((STOPPED, 0, sessions))
        except (OSError, ValueError):
            pass   # the main process is gone: nobody to tell
    return 0


def _answer(local: LocalFleet, kind: str, ident: int, payload: Any) -> tuple[Any, ...] | None:
    """What to send back for a request (None: nothing, as for RECORDS)."""
    if kind == RECORDS:
        local.reconcile(payload)
        return None
    if kind == LINES:
        lines, changed = local.lines_and_changes(payload)
        # Enough of each changed printer for the main process to show it OFFLINE with
        # its identity and counters should this worker die (not the job's plan: it is
        # not shown for a printer that is not up, and it is most of what a view costs).
        return ident, lines, [dataclasses.replace(
            s, snapshot=None, filament=s.filament.counters_only() if s.filament else None)
            for s in changed]
    if kind == STATUSES:
        return ident, local.statuses(payload)
    if kind == PING:
        return ident, True
    raise ValueError(f"unknown request {kind!r}")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m exporter.fleet.worker_process FD (started by the exporter)",
              file=sys.stderr)
        return 2
    return serve(Connection(int(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
