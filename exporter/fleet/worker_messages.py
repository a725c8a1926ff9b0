"""What the main process and its worker processes say to each other over their pipe.

Messages are tuples (kind, request id, payload), pickled by multiprocessing's Connection.
The first message to a worker is its WorkerSetup. Access codes travel only in RECORDS
payloads, over the pipe: never on a command line or in the environment. The HMS texts
come parsed (TEXTS): only the main process reads --hms.text-file, so a large file costs
its parsing peak once, and a file that breaks while a worker restarts cannot stop it.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.printer.session import SessionSettings

RECORDS = "records"     # main -> worker: its printers (list[PrinterRecord]); no answer
LINES = "lines"         # main -> worker: now; answer (id, FleetLines, changed statuses)
STATUSES = "statuses"   # main -> worker: now; answer (id, list[PrinterStatus])
TEXTS = "texts"         # main -> worker: the HMS text table (Mapping[str, str]); no answer
PING = "ping"           # main -> worker: None; answer (id, True): it answers (readiness)
STOP = "stop"           # main -> worker: close every session; answer (STOPPED, sessions)
STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerSetup:
    index: int
    session: SessionSettings   # the command line's, whole (its tls_context None: made there)
    log_level: str = "info"
    log_format: str = "text"   # --log.format: the workers' lines look like the main one's
