"""Loopback addresses for tests: every block handed out is used by no other test, by no
other pytest-xdist worker and by no other test run on this machine.

Simulated printers listen on port 8883 of their own address, so two tests (or two runs)
given the same address would talk to each other's printers. Each test process claims a
whole 127.N.0.0/16 of its own by holding an exclusive lock on a file named for N (the
kernel drops the lock when the process ends, however it ends); within it, blocks are
handed out in order and never twice. Runs in network namespaces of their own cannot
collide at all, and take locks all the same: the lock files are shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Second octets this allocator owns: 127.0.x.y is left to tests that pick addresses by
# hand, 127.100-255 to benchmarks and other tools.
OCTETS = range(20, 100)
LOCK_DIR = Path(tempfile.gettempdir()) / "bambu-exporter-test-addresses"


@dataclass(frozen=True)
class Block:
    """`count` consecutive addresses from `first`."""

    first: str
    count: int

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise IndexError(f"address {index} of a block of {self.count}")
        return str(ipaddress.IPv4Address(self.first) + index)

    def __len__(self) -> int:
        return self.count

    @property
    def last(self) -> str:
        return self[self.count - 1]

    @property
    def all(self) -> list[str]:
        return [self[i] for i in range(self.count)]


class AddressPool:
    """This process's 127.N.0.0/16; `take(n)` hands out n addresses never handed out
    before. Close it to let another process have N."""

    def __init__(self, lock_dir: Path = LOCK_DIR, octets: range = OCTETS) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):   # any user's test run may take a lock there
            lock_dir.chmod(0o1777)
        self._lock: IO[bytes] | None = None
        for octet in octets:
            handle = open(lock_dir / f"127.{octet}.lock", "ab")  # held open: the lock lives as long as it
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.write(f"{os.getpid()}\n".encode())
            self._lock = handle
            self.octet = octet
            break
        else:
            raise RuntimeError(f"every 127.N/16 for N in {octets.start}..{octets.stop - 1} is "
                               f"held by another test process (locks in {lock_dir})")
        # 127.N.0.0 is skipped: .1 first reads well in logs
        self._next = int(ipaddress.IPv4Address(f"127.{octet}.0.1"))
        self._end = int(ipaddress.IPv4Address(f"127.{octet}.255.255"))

    def take(self, count: int = 1) -> Block:
        if count < 1:
            raise ValueError("a block holds at least one address")
        if self._next + count - 1 > self._end:
            raise RuntimeError(f"127.{self.octet}.0.0/16 is used up: this process's tests "
                               f"took more than 65534 addresses")
        first = self._next
        self._next += count
        return Block(str(ipaddress.IPv4Address(first)), count)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
