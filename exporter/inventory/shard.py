"""Pure: which shard of N exporters owns a printer, from a stable hash of its serial.

N exporters read one table; each keeps the printers whose serial hashes to its index,
so their slices are disjoint and together hold every printer exactly once. The hash is
jump consistent hashing (Lamping and Veach, 2014) on a keyed BLAKE2b digest of the
serial: going from N to N+1 shards moves only about 1/(N+1) of the printers, all of them
to the new shard, and the answer is the same in every process and on every machine
(Python's hash() is salted per process). Shard indexes run 0..N-1, as a StatefulSet's
pod ordinals do, which is the one layout jump hashing needs.

The digest is personalised for sharding, so a worker split that hashes serials too
(--workers) is not correlated with this one: every shard spreads over all its workers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from exporter.errors import ConfigError
from exporter.inventory.record import PrinterRecord

_PERSON = b"bambu-shard"  # BLAKE2b personalisation: this use of the hash, nothing else
_MASK64 = (1 << 64) - 1
_ORDINAL = re.compile(r"^.*-([0-9]+)$")
_WHOLE = re.compile(r"^[+]?[0-9]+$")   # ASCII digits: \d would take "١", and int() too


def serial_key(serial: str) -> int:
    """A stable 64-bit key for a serial, the same in every process."""
    digest = hashlib.blake2b(serial.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash: a 64-bit key -> a bucket in 0..buckets-1."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * 2862933555777941757 + 1) & _MASK64
        jump = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


def shard_of(serial: str, count: int) -> int:
    """The index, 0..count-1, of the shard that owns `serial`."""
    return 0 if count == 1 else jump_hash(serial_key(serial), count)


@dataclass(frozen=True)
class Shard:
    """This exporter's slice: shard `index` of `count` (index from 0)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} of {self.count} is out of range")

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def owns(self, serial: str) -> bool:
        return shard_of(serial, self.count) == self.index

    def select(self, records: Iterable[PrinterRecord]) -> list[PrinterRecord]:
        """The records this shard owns, in their order."""
        if not self.sharded:
            return list(records)
        return [record for record in records if self.owns(record.serial)]


def describe_slice(shard: Shard, held: int, listed: int) -> str:
    """'shard 2 of 3: 334 of 1000 printers', for people; empty when not sharded."""
    if not shard.sharded:
        return ""
    return (f"shard {shard.index} of {shard.count} (indexes 0..{shard.count - 1}): "
            f"{held} of {listed} printers")


# ------------------------------------------------------------------ configuration

def ordinal_from_hostname(hostname: str) -> int | None:
    """'bambu-exporter-2' (a StatefulSet's pod) -> 2; None without a `-<ordinal>` end.
    Only the first label of a dotted name counts."""
    first = hostname.strip().split(".", 1)[0]
    match = _ORDINAL.match(first)
    return int(match.group(1)) if match else None


def _whole_number(where: str, text: str) -> int:
    text = text.strip()
    if re.match(r"^-[0-9]+$", text):
        raise ConfigError(f"{where}: {text!r} is negative")
    if not _WHOLE.match(text):
        raise ConfigError(f"{where}: {text!r} is not a whole number")
    return int(text)


def shard_from(count_text: str | None, index_text: str | None, hostname: str,
               count_where: str = "--shard.count", index_where: str = "--shard.index"
               ) -> Shard:
    """The flags' text (None when not given) and the host name -> Shard.

    Without an index and with a count above 1 the index is the host name's trailing
    ordinal, as a Kubernetes StatefulSet names its pods (bambu-exporter-0, -1, ...).
    Raises ConfigError naming the flag or variable (`*_where`) for every bad value."""
    count = 1 if count_text is None else _whole_number(count_where, count_text)
    if count < 1:
        raise ConfigError(f"{count_where}: {count} shards: there must be at least 1")
    if index_text is not None:
        index = _whole_number(index_where, index_text)
        origin = f"{index_where}: {index}"
    elif count == 1:
        return Shard(0, 1)
    else:
        ordinal = ordinal_from_hostname(hostname)
        if ordinal is None:
            raise ConfigError(
                f"{index_where}: not given, and the host name {hostname!r} does not end in "
                f"-<ordinal> as a StatefulSet's pods do; with {count_where} {count} set "
                f"{index_where} (0..{count - 1})")
        index = ordinal
        origin = f"{index_where}: the host name {hostname!r} gives {index}, which"
    if index >= count:
        raise ConfigError(f"{origin} is not below {count_where} {count} (indexes run "
                          f"0..{count - 1}; scale the StatefulSet and {count_where} together)")
    return Shard(index, count)
