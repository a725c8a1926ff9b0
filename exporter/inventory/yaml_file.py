"""The printer list from a YAML file (`--printers.file`), as the simulator writes it:

    printers:
      - name: x1c-001
        ip: 127.0.10.1
        serial: 00M09A350100001
        access_code: "12345678"

Scalars are read as text: YAML would turn an unquoted access code 01234567 into the
int 1234567 (octal rules aside) and a serial such as 1234E5 into a float, silently
losing characters. With only `null` resolved, `access_code: 01234567` stays "01234567",
quoted or not. `model` (which the simulator writes) is read and ignored; any other key
rejects its entry as `unknown_key`, naming it: a misspelt `adress:` would otherwise read
as a blank address. Rejected entries are named as a person finds them: "printers entry 3
(line 7)", with the YAML's own field names.

The file can be hostile or half-written, and is re-read on every scrape, so:
- it is read with text.read_regular_file: a regular file of at most MAX_FILE_BYTES (a FIFO
  put in its place is refused, saying what it is, never waited on);
- a change (size, mtime, inode) is applied only once it has settled: unchanged for
  `settle` seconds over two reads, or last modified `settle` seconds ago or more (so a
  file written a while before the scrape is taken at once). An editor truncating then
  writing, a generator writing in pieces (3 of 6 printers were dropped for a scrape) are
  read once done; meanwhile the last list serves;
- aliases (`*name`) are refused: nested ones expand to billions of values from a 1 kB
  file, and nothing in a printer list needs them;
- at most MAX_PRINTERS entries;
- `version` is a digest of the bytes the rows came from, so the Inventory knows an
  unchanged list without comparing rows.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

import yaml

from exporter.inventory.record import MAX_PRINTERS, ROW_PLACE, ROW_UNKNOWN_KEYS, InventoryError
from exporter.text import FileRefused, SettleRule, read_regular_file

# YAML key -> the row shape of the database, so both go through validate_rows.
_KEYS = {"name": "printer_name", "ip": "printer_ip", "serial": "printer_bambu_id",
         "access_code": "access_code"}
# Keys read and ignored: the simulator writes the model (the exporter finds it itself).
_IGNORED_KEYS = ("model",)

_NULL = "tag:yaml.org,2002:null"
MAX_FILE_BYTES = 2 * 1024 * 1024   # ~100 bytes an entry: room for MAX_PRINTERS and comments
SETTLE = 1.0   # seconds a changed file must stay the same before it is applied


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that resolves no int/float/bool/timestamp: every scalar is a str or
    None; and that refuses aliases."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a printers file",
                event.start_mark)
        return super().compose_node(parent, index)


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == _NULL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


Stamp = tuple[int, int, int, int]


class YamlSource:
    """Reads a printers file; parses it again only when its bytes change, once a change
    has settled. A file that is broken stays broken (the same error) until it changes."""

    def __init__(self, path: str | os.PathLike[str], settle: float = SETTLE,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.path = os.fspath(path)
        self._settle = SettleRule(settle, clock, wall)
        self._stamp: Stamp | None = None     # of the file the rows (or error) came from
        self._rows: list[dict[str, Any]] = []
        self._error: InventoryError | None = None
        self.version: bytes | None = None   # digest of the bytes the rows came from
        self.parses = 0  # how often the file was parsed; shows the cache works
        # the column -> this file's key, for validate_rows' messages
        self.field_names = {column: key for key, column in _KEYS.items()}

    def describe(self) -> str:
        return f"file {self.path}"

    def __repr__(self) -> str:
        return f"YamlSource({self.path!r})"

    def read(self) -> list[dict[str, Any]]:
        stamp = self._look()
        if stamp != self._stamp and self._settled(stamp):
            self._load(stamp)
        if self._error is not None:
            raise self._error
        return [dict(row) for row in self._rows]

    def _look(self) -> Stamp:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._stamp = None
            self._settle.forget()
            raise InventoryError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
        return st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode

    def _settled(self, stamp: Stamp) -> bool:
        """Whether a changed file has stayed as it is for `settle` seconds: over two looks,
        or by its own mtime. The first file ever read is taken at once: there is nothing
        else to serve."""
        if self.version is None and self._error is None:
            return True
        return self._settle.settled(stamp, stamp[0])

    def _load(self, stamp: Stamp) -> None:
        try:
            raw = read_regular_file(self.path, MAX_FILE_BYTES)
        except FileRefused as exc:
            self._failed(stamp, InventoryError(f"{self.path}: {_refusal(exc)}"))
            return
        except OSError as exc:
            self._failed(stamp, InventoryError(
                f"{self.path}: {exc.strerror or type(exc).__name__}"))
            return
        version = hashlib.blake2b(raw, digest_size=16).digest()
        self._stamp = stamp
        self._settle.forget()
        if version == self.version and self._error is None:
            return   # touched, or written alike: the rows stand
        try:
            self._rows, self._error, self.version = self._parse(raw), None, version
        except InventoryError as exc:
            self._failed(stamp, exc)

    def _failed(self, stamp: Stamp, error: InventoryError) -> None:
        self._stamp = stamp
        self._settle.forget()
        self._rows, self._error, self.version = [], error, None

    def _parse(self, raw: bytes) -> list[dict[str, Any]]:
        self.parses += 1
        try:
            loader = _TextLoader(raw)
            try:
                node = loader.get_single_node()
                printers_node = _printers_node(node)
                entries = len(printers_node.value) if printers_node is not None else 0
                if entries > MAX_PRINTERS:
                    raise InventoryError(
                        f"{self.path}: {entries} printers entries, more than the "
                        f"{MAX_PRINTERS} one exporter takes: split the list over shards "
                        "(--shard.count)")
                data = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            # str(exc) quotes the offending line, which may hold an access code.
            mark = exc.problem_mark or exc.context_mark
            where = f"{self.path}:{mark.line + 1}:{mark.column + 1}" if mark else self.path
            problem = exc.problem or exc.context or "malformed YAML"
            raise InventoryError(f"{where}: not valid YAML: {problem}") from None
        except yaml.YAMLError as exc:
            raise InventoryError(f"{self.path}: not valid YAML ({type(exc).__name__})") \
                from None
        if not isinstance(data, dict) or "printers" not in data:
            raise InventoryError(f"{self.path}: expected a mapping with a 'printers' list "
                                 f"at the top, found {_kind(data)}")
        printers = data["printers"]
        if printers is None:  # `printers:` with nothing under it: an empty fleet
            return []
        if not isinstance(printers, list):
            raise InventoryError(f"{self.path}: 'printers' must be a list, "
                                 f"found {_kind(printers)}")
        lines = _entry_lines(node)
        rows = []
        for index, item in enumerate(printers):
            place = f"printers entry {index + 1}"
            if index < len(lines):
                place += f" (line {lines[index]})"
            if not isinstance(item, dict):
                raise InventoryError(f"{self.path}: {place} must be a mapping "
                                     f"(name, ip, serial, access_code), found {_kind(item)}")
            row: dict[str, Any] = {column: item.get(key) for key, column in _KEYS.items()}
            row[ROW_PLACE] = place
            unknown = [str(key) for key in item if key not in _KEYS and key not in _IGNORED_KEYS]
            if unknown:
                row[ROW_UNKNOWN_KEYS] = unknown
            rows.append(row)
        return rows


def _printers_node(document: yaml.Node | None) -> yaml.SequenceNode | None:
    """The top-level `printers` list, as composed (nothing constructed yet)."""
    if not isinstance(document, yaml.MappingNode):
        return None
    for key, value in document.value:
        if getattr(key, "value", None) == "printers" and isinstance(value, yaml.SequenceNode):
            return value
    return None


def _entry_lines(document: yaml.Node | None) -> list[int]:
    """The 1-based line where each entry of the top-level `printers` list starts."""
    printers = _printers_node(document)
    return [item.start_mark.line + 1 for item in printers.value] if printers else []


def _refusal(exc: FileRefused) -> str:
    if exc.kind == "size":
        return (f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB ({exc.size} bytes or "
                "more): not read; a printers file that large is not one (split it over "
                "shards)")
    return f"{exc}: not read (the printers file must be a regular file)"


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "text"}
    return names.get(type(value), type(value).__name__)
