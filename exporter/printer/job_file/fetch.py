"""One try at a job's plan: connect, log in, find the 3MF, read its plan.

Where files are: LAN prints as `/<name>.gcode.3mf`, cloud prints as `/cache/<name>.3mf`,
some in `/model/`; names come from `subtask_name` and `gcode_file`. `subtask_name` can lag
one plate behind, so a file without the job's plate is passed over for the next one.
Ranged reads where the printer answers SIZE and REST, else a capped download into the
exporter's temp space.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ftplib
import ssl
import tempfile
from dataclasses import dataclass, field

from exporter.printer.job_file import three_mf
from exporter.printer.job_file.ftps import USER, ImplicitFtps, client_context
from exporter.printer.job_file.plan import JobFileError, JobPlan
from exporter.printer.job_file.ranged_file import RangedFile, deadline_left, receive

FOLDERS = ("/", "/cache/", "/model/")
MAX_NAME = 200
RANGED_BUDGET = 4 * 1024 * 1024       # a 3MF's directory and slice_info: well under this
WHOLE_CAP = 64 * 1024 * 1024          # the download fallback, for printers without REST
SPOOL_IN_MEMORY = 1024 * 1024


@dataclass(frozen=True)
class FetchTarget:
    """What the job's report says, and where the printer is. The code stays out of repr."""

    ip: str
    access_code: str = field(repr=False)
    subtask_name: str = ""
    gcode_file: str = ""
    plate: int | None = None
    clear_data: bool = False         # PROT C: the printer's protected data channel hangs
    clear_fallback: bool = False     # A1, A1 mini: try PROT C when PROT P's channel hangs
    port: int = 990


@dataclass(frozen=True)
class FetchResult:
    plan: JobPlan
    path: str
    bytes_read: int
    clear_data: bool


def file_names(subtask_name: str, gcode_file: str) -> list[str]:
    """Names the job's file may have, most likely first; names a path could escape with
    (`/`, `..`, control characters, overlong) are left out."""
    names = []
    base = gcode_file.rsplit("/", 1)[-1]
    for stem in (subtask_name.strip(),):
        if stem:
            names += [stem + ".gcode.3mf", stem + ".3mf"]
    if base.endswith(".3mf"):
        names.append(base)
        if base.endswith(".gcode.3mf"):
            names.append(base[: -len(".gcode.3mf")] + ".3mf")
    seen: list[str] = []
    for name in names:
        if name not in seen and _safe(name):
            seen.append(name)
    return seen


def _safe(name: str) -> bool:
    return (0 < len(name) <= MAX_NAME and "/" not in name and "\\" not in name
            and name not in (".", "..") and not name.startswith("..")
            and all(ch >= " " and ch != "\x7f" for ch in name))


def fetch_plan(target: FetchTarget, deadline: float, timeout: float = 10.0,
               temp_dir: str | None = None, ranged: bool = True,
               context: ssl.SSLContext | None = None) -> FetchResult:
    """One try (two on an A1 whose protected data channel hangs: then in clear).
    JobFileError says why not: no_file (retry later), no_storage, refused, tls, timeout,
    too_large, bad_file. `context`: client_context(), made once by a caller that fetches
    often (building one costs CPU under the GIL on every fetch)."""
    context = context or client_context()
    try:
        return _fetch_once(target, deadline, timeout, temp_dir, ranged, context)
    except JobFileError as exc:
        if not (exc.reason == "timeout" and exc.data_channel and target.clear_fallback
                and not target.clear_data):
            raise
    return _fetch_once(dataclasses.replace(target, clear_data=True), deadline, timeout,
                       temp_dir, ranged, context)


def _fetch_once(target: FetchTarget, deadline: float, timeout: float, temp_dir: str | None,
                ranged: bool, context: ssl.SSLContext) -> FetchResult:
    names = file_names(target.subtask_name, target.gcode_file)
    if not names:
        raise JobFileError("bad_file", "the job's name gives no usable file name")
    ftp = _open(target, deadline, timeout, context)
    try:
        return _find_and_read(ftp, target, names, deadline, temp_dir, ranged)
    except TimeoutError:
        raise JobFileError("timeout", "the printer stopped answering") from None
    except ssl.SSLError as exc:
        raise JobFileError("tls", f"TLS failed: {exc.reason}") from None
    except (ConnectionError, EOFError, OSError) as exc:
        raise JobFileError("refused", f"the printer closed the connection: "
                                      f"{type(exc).__name__}") from None
    except ftplib.Error as exc:
        raise JobFileError("refused", f"unexpected reply: {str(exc)[:120]}") from None
    finally:
        _close(ftp)


def _open(target: FetchTarget, deadline: float, timeout: float,
          context: ssl.SSLContext) -> ImplicitFtps:
    ftp = ImplicitFtps(context, min(timeout, deadline_left(deadline)))
    try:
        ftp.connect(target.ip, target.port)
        ftp.login(USER, target.access_code)
        ftp.protect(target.clear_data)
    except TimeoutError:
        _close(ftp)
        raise JobFileError("timeout", "no answer on port 990 within the deadline") from None
    except ssl.SSLError as exc:
        _close(ftp)
        raise JobFileError("tls", f"TLS handshake on port 990 failed: {exc.reason}") from None
    except ftplib.error_perm as exc:
        _close(ftp)
        code = str(exc)[:3]
        why = "login refused (access code?)" if code == "530" else f"refused: {code}"
        raise JobFileError("refused", why) from None
    except (OSError, EOFError, ftplib.Error) as exc:
        _close(ftp)
        raise JobFileError("refused", f"cannot reach port 990: {type(exc).__name__}") from None
    return ftp


def _close(ftp: ImplicitFtps) -> None:
    # QUIT would wait on a printer that may not answer: close is enough for vsFTPd
    with contextlib.suppress(Exception):
        ftp.close()


def _find_and_read(ftp: ImplicitFtps, target: FetchTarget, names: list[str], deadline: float,
                   temp_dir: str | None, ranged: bool) -> FetchResult:
    wrong_plate: JobFileError | None = None
    found_any = False
    for folder in FOLDERS:
        for name in names:
            path = folder + name
            size = _size(ftp, path, deadline)
            if size is None:
                continue
            found_any = True
            try:
                plan, read = _read(ftp, path, size, target.plate, deadline, temp_dir, ranged)
            except JobFileError as exc:
                if exc.reason == "bad_file" and "has no plate" in str(exc):
                    wrong_plate = exc   # the previous job's file (a lagging subtask_name)
                    continue
                raise
            return FetchResult(plan, path, read, ftp.clear_data)
    if wrong_plate is not None:
        raise wrong_plate
    if not found_any and not _has_storage(ftp, deadline):
        raise JobFileError("no_storage", "the printer serves no storage (no SD card or USB "
                                         "drive, or sent files are not kept)")
    raise JobFileError("no_file", f"no {' or '.join(names[:2])} in / /cache /model")


def _size(ftp: ImplicitFtps, path: str, deadline: float) -> int | None:
    ftp.sock.settimeout(min(ftp.op_timeout, deadline_left(deadline)))  # type: ignore[union-attr]
    try:
        size = ftp.size(path)
    except ftplib.error_perm as exc:
        if str(exc).startswith("550"):
            return None
        return -1   # SIZE not understood: the file may still be there
    return size if isinstance(size, int) and size >= 0 else -1


def _has_storage(ftp: ImplicitFtps, deadline: float) -> bool:
    ftp.sock.settimeout(min(ftp.op_timeout, deadline_left(deadline)))  # type: ignore[union-attr]
    try:
        ftp.cwd("/cache")
    except ftplib.error_perm:
        return False
    return True


def _read(ftp: ImplicitFtps, path: str, size: int, plate: int | None, deadline: float,
          temp_dir: str | None, ranged: bool) -> tuple[JobPlan, int]:
    if ranged and size > 0:
        ranged_file = RangedFile(ftp, path, size, RANGED_BUDGET, deadline)
        try:
            plan = three_mf.read_plan(ranged_file, plate)  # type: ignore[arg-type]
        except JobFileError as exc:
            if not str(exc).startswith(path + ": 50"):   # REST or SIZE refused: download
                raise
        else:
            return plan, ranged_file.bytes_read
    if size > WHOLE_CAP:
        raise JobFileError("too_large", f"{path} is {size} bytes (download cap {WHOLE_CAP})")
    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=temp_dir) as spool:
        receive(ftp, f"RETR {path}", None, WHOLE_CAP + 1, deadline, spool.write)
        read = spool.tell()
        if read > WHOLE_CAP:
            raise JobFileError("too_large", f"{path} is over {WHOLE_CAP} bytes")
        spool.seek(0)
        return three_mf.read_plan(spool, plate), read  # type: ignore[arg-type]
