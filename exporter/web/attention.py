"""Pure: which printers need a person now, and why, in words; the order a farm looks in.

One place decides it, so the landing page (and anyone reading this module to build
another view) put the same printers first for the same reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.metrics.catalogue import Describe
from exporter.printer.job_file.runway import TrayRunway, runway
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.status import OFFLINE, PrinterStatus
from exporter.printer.vocabulary import hms_wiki_url
from exporter.printer.words import stage_words
from exporter.web.job_words import duration_words, plate_waiting_since

# Lower is more urgent: the order printers needing attention are listed in.
RANK_FATAL = 0
RANK_FAILED = 1
RANK_OFFLINE = 2
RANK_SERIOUS = 3
RANK_PAUSED = 4
RANK_HEALTH = 5
RANK_COMMON = 6
RANK_INFO = 7
RANK_PLATE_WAITING = 8   # after every error, before the printers that need nobody
HMS_RANKS = {"fatal": RANK_FATAL, "serious": RANK_SERIOUS, "common": RANK_COMMON,
             "info": RANK_INFO, "unknown": RANK_COMMON}

# A plate waiting longer than this needs a hand (--attention.plate-waiting).
DEFAULT_PLATE_WAITING = 15 * 60.0

# The rest, after those needing attention: busy printers first, idle ones last.
STATE_ORDER = {"RUNNING": 0, "PREPARE": 1, "PAUSE": 2, "FAILED": 3, "FINISH": 4,
               "UNKNOWN": 5, "IDLE": 6, OFFLINE: 7}

@dataclass(frozen=True)
class Trouble:
    """One reason a printer needs a person: words, and where it helps, a fix or a link."""

    rank: int
    text: str
    fix: str = ""
    link: str = ""


def troubles(status: PrinterStatus, describe: Describe, now: float | None = None,
             plate_waiting: float = DEFAULT_PLATE_WAITING) -> list[Trouble]:
    """Why this printer needs attention, most urgent first ([] when it does not). With
    `now`, a plate waiting longer than `plate_waiting` seconds is one of them."""
    out: list[Trouble] = []
    if not status.up:
        out.append(offline_trouble(status))
        return sorted(out, key=lambda t: t.rank)
    snap = status.snapshot
    if snap is None:
        return out
    for message in snap.hms:
        text = describe(message.code)
        words = f"HMS {message.code} ({message.severity}, {message.module})"
        out.append(Trouble(HMS_RANKS.get(message.severity, RANK_COMMON),
                           f"{words}: {text}" if text else words,
                           link=hms_wiki_url(status.model, message.code)))
    error = snap.print_error_code
    if error is not None:
        text = describe(error)
        out.append(Trouble(RANK_FAILED if snap.state == "FAILED" else RANK_PAUSED,
                           f"print error {error}" + (f": {text}" if text else "")))
    if snap.state == "FAILED":
        out.append(Trouble(RANK_FAILED, "the job failed",
                           "look at the plate, clear it and start the job again"))
    elif snap.state == "PAUSE":
        stage = snap.stage or "unknown stage"
        fix = ("load filament and resume" if stage == "PAUSED_FILAMENT_RUNOUT"
               else "resume or stop the job")
        words = stage_words(stage) if snap.stage else "paused"
        out.append(Trouble(RANK_PAUSED, words if words.startswith("paused") else
                           f"paused ({words})", fix))
    if snap.sdcard == "abnormal":
        out.append(Trouble(RANK_HEALTH, "SD card abnormal", "reseat, format or replace it"))
    if snap.filament_tangle:
        out.append(Trouble(RANK_HEALTH, "filament tangle detected", "untangle the spool"))
    if snap.door_open and snap.state == "RUNNING":
        out.append(Trouble(RANK_HEALTH, "door open while printing", "close the door"))
    since = plate_waiting_since(status) if now is not None else None
    if since is not None and now is not None and now - since > plate_waiting:
        out.append(Trouble(RANK_PLATE_WAITING,
                           f"plate waiting for {duration_words(now - since)}",
                           "clear the plate so the next job can start"))
    if status.filament is not None:
        for item in runway(status.filament, snap):
            if item.runs_out:
                out.append(Trouble(RANK_HEALTH, runway_words(item),
                                   "put a fuller spool in, or a backup spool in the AMS"))
    return sorted(out, key=lambda t: t.rank)


# Names for spool colours: the nearest of these says "PLA black" rather than "#161616".
COLOR_NAMES = (("black", (0, 0, 0)), ("white", (255, 255, 255)), ("grey", (128, 128, 128)),
               ("red", (200, 30, 30)), ("orange", (255, 130, 0)), ("yellow", (250, 220, 0)),
               ("green", (40, 160, 60)), ("blue", (30, 70, 200)), ("purple", (120, 50, 160)),
               ("pink", (240, 130, 180)), ("brown", (120, 70, 30)), ("beige", (225, 200, 160)),
               ("cyan", (0, 180, 200)))


def color_name(color: str) -> str:
    """'#FF0000' or 'FF0000FF' -> 'red'; '' when it is not a colour."""
    digits = color.lstrip("#")[:6]
    if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        return ""
    rgb = tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))

    def distance(named: tuple[str, tuple[int, int, int]]) -> int:
        return sum((a - b) ** 2 for a, b in zip(named[1], rgb, strict=True))

    return min(COLOR_NAMES, key=distance)[0]


def tray_words(ams: str, tray: str) -> str:
    """A tray as people count them: AMS 1 slot 3 (the printer counts from 0), AMS HT 1,
    the external spool."""
    if ams == "external":
        return "external spool" if tray == "254" else "second external spool"
    if ams.isdigit() and 128 <= int(ams) < 136:
        return f"AMS HT {int(ams) - 127}"
    if ams.isdigit() and tray.isdigit():
        return f"AMS {int(ams) + 1} slot {int(tray) + 1}"
    return f"AMS {ams} tray {tray}"


def runway_words(item: TrayRunway) -> str:
    """'AMS 1 slot 3, PLA black: about 40 g left, the job needs about 95 g more'."""
    spool = " ".join(w for w in (item.material, color_name(item.color)) if w)
    where = tray_words(item.ams, item.tray) + (f", {spool}" if spool else "")
    return (f"{where}: about {round(item.left or 0.0)} g left, the job needs about "
            f"{round(item.needed)} g more")


def offline_trouble(status: PrinterStatus) -> Trouble:
    reason = status.last_error_reason
    if reason is None and status.connected:
        reason = OfflineReason.SILENT
    if reason is None:   # no error yet: it has not connected since the exporter started
        return Trouble(RANK_OFFLINE, "offline", "see the last error")
    return Trouble(RANK_OFFLINE, f"offline: {reason.words}", reason.fix)


@dataclass(frozen=True)
class Entry:
    status: PrinterStatus
    troubles: tuple[Trouble, ...]

    @property
    def needs_attention(self) -> bool:
        return bool(self.troubles)


def ordered(statuses: Iterable[PrinterStatus], describe: Describe, now: float | None = None,
            plate_waiting: float = DEFAULT_PLATE_WAITING) -> list[Entry]:
    """Every printer with its troubles: those needing attention first (most urgent
    trouble, then name), then the rest by state (busy first; printing ones by the time
    left, the next to end first) and name."""
    entries = [Entry(status, tuple(troubles(status, describe, now, plate_waiting)))
               for status in statuses]

    def key(entry: Entry) -> tuple[int, int, float, str, str]:
        status = entry.status
        if entry.troubles:
            return (0, entry.troubles[0].rank, 0.0, status.name.lower(), status.serial)
        return (1, STATE_ORDER.get(status.state, 5), time_left(status), status.name.lower(),
                status.serial)

    return sorted(entries, key=key)


def time_left(status: PrinterStatus) -> float:
    """Seconds until a printing printer's job ends (infinity when not printing or not
    said): printers that end next are the ones to walk to next."""
    snap = status.snapshot
    if status.state != "RUNNING" or snap is None or snap.remaining_seconds is None:
        return float("inf")
    return snap.remaining_seconds
