"""Pure: why a printer is offline, as one closed vocabulary.

Every module that decides, counts, shows or explains why a printer has no live session
names a member of OfflineReason, never a string: a misspelt reason is a mypy error, not a
plain "offline" with no words. A member carries the label value of
bambu_printer_connection_errors_total{reason}, the words the page says and the fix.
"""

from __future__ import annotations

import enum


class OfflineReason(enum.Enum):
    # Counted reasons, in the order their series are exposed (the golden file's order).
    REFUSED = ("refused", "the address refuses the connection",
               "turn LAN mode on, or check that the address is still this printer's")
    AUTH = ("auth", "the printer refuses the access code",
            "put the code from the printer's screen (LAN settings) in the printer list")
    TIMEOUT = ("timeout", "nothing answers",
               "check that the printer is on and on this network")
    DROPPED = ("dropped", "the printer keeps dropping the session",
               "close other clients (Studio, Home Assistant) or improve its Wi-Fi")
    UNREACHABLE = ("unreachable", "no route to the address",
                   "check the address in the printer list and the network in between")
    PROTOCOL = ("protocol", "it does not answer as a printer does",
                "check that the address is this printer's")
    SILENT = ("silent", "connected, but no report arrives",
              "check the serial in the printer list (upper case, as on the printer)")
    CERTIFICATE = ("certificate", "its certificate does not verify",
                   "check --printer.ca-file and that the serial is right")
    LOCAL = ("local", "the exporter ran short of its own resources (file descriptors) "
                      "connecting",
             "raise the exporter's descriptor limit or split the printers over workers")
    # Not a connection error: the worker process that holds the session is down, so no
    # session counts anything; the page still says why.
    WORKER = ("worker", "the exporter's worker process for it is restarting",
              "wait a few seconds; see the exporter's log if it repeats", False)

    def __init__(self, label: str, words: str, fix: str, counted: bool = True) -> None:
        self.label = label      # the reason label value; also what logs and the page show
        self.words = words      # what it means, after "offline: "
        self.fix = fix          # what a person does about it
        self.counted = counted  # a bambu_printer_connection_errors_total{reason} series

    def __str__(self) -> str:
        # Logs and messages that format a member say its label, as the metric does.
        return self.label


# The label values of bambu_printer_connection_errors_total, in exposition order.
COUNTED_REASONS: tuple[OfflineReason, ...] = tuple(r for r in OfflineReason if r.counted)
