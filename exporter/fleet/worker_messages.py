"""What the main process and its worker processes say to each other over their pipe.

Messages are tuples (kind, request id, payload), pickled by multiprocessing's Connection.
The first message to a worker is its WorkerSetup. Access codes travel only in RECORDS
payloads, over the pipe: never on a command line or in the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORDS = "records"     # main -> worker: its printers (list[PrinterRecord]); no answer
LINES = "lines"         # main -> worker: now; answer (id, FleetLines, changed statuses)
STATUSES = "statuses"   # main -> worker: now; answer (id, list[PrinterStatus])
PING = "ping"           # main -> worker: None; answer (id, True): it answers (readiness)
STOP = "stop"           # main -> worker: close every session; answer (STOPPED, sessions)
STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerSetup:
    index: int
    staleness: float
    pushall_interval: float
    connect_timeout: float
    log_level: str = "info"
    log_format: str = "text"   # --log.format: the workers' lines look like the main one's
    hms_text_file: str | None = None   # each worker loads the texts its printers' lines need
