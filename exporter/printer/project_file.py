"""Pure: the `project_file` command a printer echoes on its report topic when a job starts.

Bambu Studio (or any client) starts a job with `{"print": {"command": "project_file", ...}}`
on the request topic; the printer publishes the same object on the report topic once. It
says what later full reports do not: which plate of the project (`param` =
`Metadata/plate_N.gcode`), where the file came from (`url`), and how slicer filaments map
to AMS trays (`ams_mapping`, `use_ams`). Everything is read defensively and bounded, as
values from the wire are everywhere else (sanitize.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from exporter.text import bounded_text

PROJECT_FILE_COMMAND = "project_file"
# A printer maps at most a few AMS units' trays; more entries than this are not a mapping.
MAX_AMS_MAPPING = 64
_PLATE = re.compile(r"plate_(\d{1,4})\.gcode$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """What the echo of a job's `project_file` command said ("" / None / () = not said)."""

    subtask_name: str
    url: str                    # scheme://host/path: query, fragment and user info removed
    param: str                  # as sent: "Metadata/plate_2.gcode"
    plate: int | None           # N of param's plate_N.gcode
    ams_mapping: tuple[int, ...]   # per slicer filament: ams_id * 4 + slot, -1 = none
    use_ams: bool | None


def read_project_file(printed: Mapping[str, Any]) -> ProjectFile | None:
    """The `print` object of a report message -> its ProjectFile, or None when it is not
    a project_file echo."""
    if printed.get("command") != PROJECT_FILE_COMMAND:
        return None
    param = _text(printed.get("param"))
    match = _PLATE.search(param)
    use_ams = printed.get("use_ams")
    return ProjectFile(
        subtask_name=_text(printed.get("subtask_name")),
        url=_public_url(_text(printed.get("url"), limit=2048)),
        param=param,
        plate=int(match.group(1)) if match else None,
        ams_mapping=_mapping(printed.get("ams_mapping")),
        use_ams=use_ams if isinstance(use_ams, bool) else None,
    )


def _text(value: Any, limit: int = 256) -> str:
    return bounded_text(value.strip(), limit) if isinstance(value, str) else ""


def _public_url(url: str) -> str:
    """A cloud job's url is a signed link (its query is a credential) and an FTP url may
    carry a user and password: keep where the file is, never how to get at it."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return ""
    return bounded_text(urlunsplit((parts.scheme, host, parts.path, "", "")))


def _mapping(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_AMS_MAPPING:
        return ()
    out: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            return ()
        if isinstance(item, float) and not item.is_integer():
            return ()
        number = int(item)
        if not -1 <= number <= 0xFFFF:
            return ()
        out.append(number)
    return tuple(out)
