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
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from exporter.inventory.record import ROW_PLACE, ROW_UNKNOWN_KEYS, InventoryError

# YAML key -> the row shape of the database, so both go through validate_rows.
_KEYS = {"name": "printer_name", "ip": "printer_ip", "serial": "printer_bambu_id",
         "access_code": "access_code"}
# Keys read and ignored: the simulator writes the model (the exporter finds it itself).
_IGNORED_KEYS = ("model",)

_NULL = "tag:yaml.org,2002:null"


class _TextLoader(yaml.SafeLoader):
    """SafeLoader that resolves no int/float/bool/timestamp: every scalar is a str or
    None."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == _NULL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class YamlSource:
    """Reads a printers file; parses it again only when its size, mtime or inode change.
    A file that is broken stays broken (the same error) until it changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._stamp: tuple[int, int, int] | None = None
        self._rows: list[dict[str, Any]] = []
        self._error: InventoryError | None = None
        self.parses = 0  # how often the file was parsed; shows the cache works
        # the column -> this file's key, for validate_rows' messages
        self.field_names = {column: key for key, column in _KEYS.items()}

    def describe(self) -> str:
        return f"file {self.path}"

    def __repr__(self) -> str:
        return f"YamlSource({self.path!r})"

    def read(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._stamp = None
            raise InventoryError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._rows, self._error = self._parse(), None
            except InventoryError as exc:
                self._rows, self._error = [], exc
        if self._error is not None:
            raise self._error
        return [dict(row) for row in self._rows]

    def _parse(self) -> list[dict[str, Any]]:
        self.parses += 1
        try:
            with open(self.path, "rb") as f:
                loader = _TextLoader(f)
                try:
                    node = loader.get_single_node()
                    data = loader.construct_document(node) if node is not None else None
                finally:
                    loader.dispose()
        except OSError as exc:
            raise InventoryError(f"{self.path}: {exc.strerror or type(exc).__name__}") from None
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


def _entry_lines(document: yaml.Node | None) -> list[int]:
    """The 1-based line where each entry of the top-level `printers` list starts."""
    if not isinstance(document, yaml.MappingNode):
        return []
    for key, value in document.value:
        if getattr(key, "value", None) == "printers" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "text"}
    return names.get(type(value), type(value).__name__)
