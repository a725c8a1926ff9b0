"""Faults a simulated printer can show, and how a fleet spreads them over its printers."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping


class Fault(str, enum.Enum):
    OFFLINE = "offline"                        # nothing listens on the address
    HUNG = "hung"                              # TCP accepted, TLS never completes
    SILENT = "silent"                          # connected, answers PINGREQ, sends nothing
    DROP = "drop"                              # sessions cut (no DISCONNECT) mid-session
    GARBAGE_TEXT = "garbage_text"              # non-JSON payloads between reports
    GARBAGE_NON_OBJECT = "garbage_non_object"  # JSON that is not an object
    HMS = "hms"                                # active HMS warnings
    HMS_SERIOUS = "hms_serious"                # a serious AMS HMS message
    RUNOUT = "runout"                          # paused on a filament run-out until cleared
    FAIL_PRINT = "fail_print"                  # jobs end FAILED (and stay) with print_error + HMS
    WRONG_CODE = "wrong_code"                  # the inventory lists a wrong access code
    SDCARD = "sdcard"                          # the SD card reads as abnormal
    TANGLE = "tangle"                          # a filament tangle is detected
    FIRMWARE_UPDATE = "firmware_update"        # a firmware update is on offer
    # Firmware modes: what real firmware is reported to do, and what a broken one might.
    TLS13_DEAF = "tls13_deaf"                  # never answers a ClientHello offering TLS 1.3
    REFUSE_SUBSCRIBE = "refuse_subscribe"      # SUBACK 0x80 to every subscription
    NO_SUBACK = "no_suback"                    # never answers a SUBSCRIBE
    ONE_CLIENT = "one_client"                  # one client at a time; any other is dropped
    CONNACK_FLOOD = "connack_flood"            # CONNACK again and again, reading nothing
    BAD_MQTT = "bad_mqtt"                      # a PUBLISH with QoS 3 after the SUBACK
    CLOSE_BEFORE_CONNACK = "close_before_connack"  # reads CONNECT, closes without a word
    DROP_AT_CONNACK = "drop_at_connack"        # CONNACK, then the connection is cut
    GARBAGE_AFTER_FIRST = "garbage_after_first"  # one good report, then only garbage
    WRONG_CN = "wrong_cn"                      # a CA-issued certificate for another serial
    SELF_SIGNED = "self_signed"                # a self-signed certificate, CN = serial
    # Job files over FTPS (port 990): where the 3MF is, what it holds, how the server acts.
    FTPS_A1_DATA = "ftps_a1_data"              # a protected data channel never handshakes (A1)
    FTPS_DRIP = "ftps_drip"                    # the data channel drips a byte a second
    FILES_IN_CACHE = "files_in_cache"          # job files land in /cache (cloud prints)
    NO_STORAGE = "no_storage"                  # no SD card or USB drive: nothing to serve
    FILE_LATE = "file_late"                    # the job's file appears seconds after it starts
    BIG_3MF = "big_3mf"                        # the job's 3MF is 100 MB
    ZIP_BOMB = "zip_bomb"                      # slice_info.config inflates to 256 MiB
    XML_BOMB = "xml_bomb"                      # slice_info.config is a billion-laughs document
    SUBTASK_LAG = "subtask_lag"                # subtask_name names the previous job's file
    CANCEL_TO_IDLE = "cancel_to_idle"          # a cancel goes RUNNING/PAUSE -> IDLE, not FAILED
    FLAPPING = "flapping"                      # a job's FINISH flaps back to RUNNING twice
    PLATE_WAITING = "plate_waiting"            # finished plates wait until the fault is cleared
    BOOT_STAGE_ZERO = "boot_stage_zero"        # after boot, resting with stg_cur 0 ("printing")


# Names accepted in SimulatedFleet(faults=...) and as --<name> flags; "garbage" alternates
# its printers between the two garbage kinds.
FAULT_NAMES: dict[str, tuple[Fault, ...]] = {
    "offline": (Fault.OFFLINE,),
    "hung": (Fault.HUNG,),
    "silent": (Fault.SILENT,),
    "drop": (Fault.DROP,),
    "garbage": (Fault.GARBAGE_TEXT, Fault.GARBAGE_NON_OBJECT),
    "garbage_text": (Fault.GARBAGE_TEXT,),
    "garbage_non_object": (Fault.GARBAGE_NON_OBJECT,),
    "hms": (Fault.HMS,),
    "hms_serious": (Fault.HMS_SERIOUS,),
    "runout": (Fault.RUNOUT,),
    "fail": (Fault.FAIL_PRINT,),
    "fail_print": (Fault.FAIL_PRINT,),
    "wrong_code": (Fault.WRONG_CODE,),
    **{fault.value: (fault,) for fault in (
        Fault.TLS13_DEAF, Fault.REFUSE_SUBSCRIBE, Fault.NO_SUBACK, Fault.ONE_CLIENT, Fault.CONNACK_FLOOD,
        Fault.BAD_MQTT, Fault.CLOSE_BEFORE_CONNACK, Fault.DROP_AT_CONNACK,
        Fault.GARBAGE_AFTER_FIRST, Fault.WRONG_CN, Fault.SELF_SIGNED, Fault.FTPS_A1_DATA,
        Fault.FTPS_DRIP, Fault.FILES_IN_CACHE, Fault.NO_STORAGE, Fault.FILE_LATE, Fault.BIG_3MF,
        Fault.ZIP_BOMB, Fault.XML_BOMB, Fault.SUBTASK_LAG, Fault.CANCEL_TO_IDLE,
        Fault.FLAPPING, Fault.PLATE_WAITING, Fault.BOOT_STAGE_ZERO)},
    "sdcard": (Fault.SDCARD,),
    "tangle": (Fault.TANGLE,),
    "firmware_update": (Fault.FIRMWARE_UPDATE,),
}


def fault_count(amount: int | float, fleet_size: int) -> int:
    """An int is a number of printers; a float in [0, 1] a share of the fleet."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValueError(f"fault amount must be a count or a share, not {amount!r}")
    if isinstance(amount, float):
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"fault share must be between 0 and 1, not {amount}")
        return round(amount * fleet_size)
    if amount < 0:
        raise ValueError(f"fault count must not be negative, not {amount}")
    return min(amount, fleet_size)


def parse_amount(text: str) -> int | float:
    """'3' -> 3 printers, '0.1' or '10%' -> a tenth of the fleet."""
    text = text.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100.0
        elif "." in text:
            share = float(text)
        else:
            count = int(text)
            if count < 0:
                raise ValueError
            return count
    except ValueError:
        raise ValueError(f"expected a count (3) or a share (0.1, 10%), got {text!r}") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share must be between 0 and 1 (0%..100%), got {text!r}")
    return share


def assign_faults(spec: Mapping[str, int | float] | None, fleet_size: int,
                  seed: int) -> list[set[Fault]]:
    """Which faults each printer starts with. Printers are picked by a seeded shuffle and
    kept apart across faults while there are fault-free printers left, so that `offline: 2,
    hung: 2` means four distinct printers."""
    result: list[set[Fault]] = [set() for _ in range(fleet_size)]
    if not spec or not fleet_size:
        return result
    order = list(range(fleet_size))
    random.Random(f"faults-{seed}").shuffle(order)
    cursor = 0
    for name, amount in spec.items():
        key = name.strip().lower().replace("-", "_")
        if key not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r} (choose from {', '.join(FAULT_NAMES)})")
        kinds = FAULT_NAMES[key]
        for i in range(fault_count(amount, fleet_size)):
            result[order[cursor % fleet_size]].add(kinds[i % len(kinds)])
            cursor += 1
    return result
