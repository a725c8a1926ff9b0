"""Pure: which printers need a person now, and why, in words; the order a farm looks in.

One place decides it, so the landing page (and anyone reading this module to build
another view) put the same printers first for the same reasons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.metrics.catalogue import Describe
from exporter.printer.status import OFFLINE, PrinterStatus
from exporter.printer.vocabulary import hms_wiki_url
from exporter.printer.words import stage_words

# Lower is more urgent: the order printers needing attention are listed in.
RANK_FATAL = 0
RANK_FAILED = 1
RANK_OFFLINE = 2
RANK_SERIOUS = 3
RANK_PAUSED = 4
RANK_HEALTH = 5
RANK_COMMON = 6
RANK_INFO = 7
HMS_RANKS = {"fatal": RANK_FATAL, "serious": RANK_SERIOUS, "common": RANK_COMMON,
             "info": RANK_INFO, "unknown": RANK_COMMON}

# The rest, after those needing attention: busy printers first, idle ones last.
STATE_ORDER = {"RUNNING": 0, "PREPARE": 1, "PAUSE": 2, "FAILED": 3, "FINISH": 4,
               "UNKNOWN": 5, "IDLE": 6, OFFLINE: 7}

# A connection error's reason -> what it means and what fixes it.
REASONS: dict[str, tuple[str, str]] = {
    "auth": ("the printer refuses the access code",
             "put the code from the printer's screen (LAN settings) in the printer list"),
    "refused": ("the address refuses the connection",
                "turn LAN mode on, or check that the address is still this printer's"),
    "timeout": ("nothing answers",
                "check that the printer is on and on this network"),
    "unreachable": ("no route to the address",
                    "check the address in the printer list and the network in between"),
    "dropped": ("the printer keeps dropping the session",
                "close other clients (Studio, Home Assistant) or improve its Wi-Fi"),
    "silent": ("connected, but no report arrives",
               "check the serial in the printer list (upper case, as on the printer)"),
    "certificate": ("its certificate does not verify",
                    "check --printer.ca-file and that the serial is right"),
    "protocol": ("it does not answer as a printer does",
                 "check that the address is this printer's"),
    "worker": ("the exporter's worker process for it is restarting",
               "wait a few seconds; see the exporter's log if it repeats"),
}


@dataclass(frozen=True)
class Trouble:
    """One reason a printer needs a person: words, and where it helps, a fix or a link."""

    rank: int
    text: str
    fix: str = ""
    link: str = ""


def troubles(status: PrinterStatus, describe: Describe) -> list[Trouble]:
    """Why this printer needs attention, most urgent first ([] when it does not)."""
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
    return sorted(out, key=lambda t: t.rank)


def offline_trouble(status: PrinterStatus) -> Trouble:
    reason = status.last_error_reason
    if not reason and status.connected:
        reason = "silent"
    words, fix = REASONS.get(reason, ("offline", "see the last error"))
    return Trouble(RANK_OFFLINE, f"offline: {words}" if reason else "offline", fix)


@dataclass(frozen=True)
class Entry:
    status: PrinterStatus
    troubles: tuple[Trouble, ...]

    @property
    def needs_attention(self) -> bool:
        return bool(self.troubles)


def ordered(statuses: Iterable[PrinterStatus], describe: Describe) -> list[Entry]:
    """Every printer with its troubles: those needing attention first (most urgent
    trouble, then name), then the rest by state (busy first) and name."""
    entries = [Entry(status, tuple(troubles(status, describe))) for status in statuses]

    def key(entry: Entry) -> tuple[int, int, str, str]:
        if entry.troubles:
            return (0, entry.troubles[0].rank, entry.status.name.lower(), entry.status.serial)
        return (1, STATE_ORDER.get(entry.status.state, 5), entry.status.name.lower(),
                entry.status.serial)

    return sorted(entries, key=key)
