"""Pure: a 3MF (a ZIP) -> the plan of the job's plate.

Only `Metadata/slice_info.config` is read, from any seekable file (a ranged reader over
FTPS or a capped download); nothing is extracted to disk, so member names never become
paths. The member is capped in size and in compression ratio before and while inflating.
"""

from __future__ import annotations

import re
import zipfile
from typing import BinaryIO

from exporter.printer.job_file.plan import JobFileError, JobPlan
from exporter.printer.job_file.slice_info import parse_plates

SLICE_INFO = "Metadata/slice_info.config"
MAX_SLICE_INFO = 2 * 1024 * 1024    # a 64-plate, 64-filament file is well under 100 KiB
MAX_RATIO = 100                      # XML deflates ~10:1; a bomb by thousands
MAX_MEMBERS = 10_000
_PLATE = re.compile(r"plate_([0-9]{1,4})\.gcode", re.IGNORECASE)
_PRINTED = re.compile(r"Metadata/plate_([0-9]{1,4})\.gcode")


def plate_number(*names: str) -> int | None:
    """The plate a job prints, from `param` ("Metadata/plate_2.gcode") or `gcode_file`."""
    for name in names:
        match = _PLATE.search(name or "")
        if match:
            return int(match.group(1))
    return None


def read_plan(file: BinaryIO, plate: int | None) -> JobPlan:
    """The plan for `plate` (None: the plate whose G-code the file carries, else the
    first). JobFileError with
    bad_file when the file is not a 3MF or lacks the plate (a `subtask_name` that lags one
    plate behind names the previous job's file), too_large when the member is over cap."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise JobFileError("bad_file", f"not a 3MF (ZIP): {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise JobFileError("bad_file", f"3MF has {len(members)} members")
        info = next((m for m in members if m.filename == SLICE_INFO), None)
        if info is None:
            raise JobFileError("bad_file", f"3MF has no {SLICE_INFO} (not sliced by Bambu Studio?)")
        xml = _read_member(archive, info)
        # The plate a file was sent to print is the one whose G-code it carries: what tells
        # the plate when the job's start (and its project_file echo) was not seen.
        printed = {int(m.group(1)) for m in map(_PRINTED.fullmatch, (i.filename for i in members))
                   if m is not None}
    plates = parse_plates(xml)
    if plate is None and len(printed) == 1:
        plate = printed.pop()
    if plate is None:
        return plates[min(plates)]
    if plate not in plates:
        raise JobFileError("bad_file", f"3MF has no plate {plate} (it has "
                                       f"{', '.join(map(str, sorted(plates)[:8]))})")
    return plates[plate]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise JobFileError("bad_file", f"{SLICE_INFO} uses compression {info.compress_type}")
    if info.file_size > MAX_SLICE_INFO:
        raise JobFileError("too_large", f"{SLICE_INFO} is {info.file_size} bytes "
                                        f"(cap {MAX_SLICE_INFO})")
    if info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise JobFileError("bad_file", f"{SLICE_INFO} inflates {info.compress_size} -> "
                                       f"{info.file_size} bytes (a ZIP bomb?)")
    try:
        with archive.open(info) as member:
            # the header's sizes may lie: the read itself is capped too
            data = member.read(MAX_SLICE_INFO + 1)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise JobFileError("bad_file", f"{SLICE_INFO} unreadable: {exc}") from None
    if len(data) > MAX_SLICE_INFO:
        raise JobFileError("too_large", f"{SLICE_INFO} inflates past {MAX_SLICE_INFO} bytes")
    return data
