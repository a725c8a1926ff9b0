"""Which worker process owns a printer: a stable hash of its serial.

Stable across runs and machines (not Python's salted hash()), so a restarted worker gets
the same printers back. Salted with its own prefix, so that it is independent of the
shard hash: otherwise on a shard where every serial hashes to index I modulo N, N workers
would all land on worker I.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TypeVar

_SALT = b"bambu-exporter/worker\0"

T = TypeVar("T")


def worker_of(serial: str, workers: int) -> int:
    """0 <= index < workers for this serial."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    digest = hashlib.blake2b(_SALT + serial.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % workers


def split(items: Iterable[T], serial_of: Callable[[T], str], workers: int) -> list[list[T]]:
    """Items per worker, each list in the given order."""
    out: list[list[T]] = [[] for _ in range(workers)]
    for item in items:
        out[worker_of(serial_of(item), workers)].append(item)
    return out

