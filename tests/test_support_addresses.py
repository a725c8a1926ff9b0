"""tests/support/addresses.py: each test process holds its own 127.N/16 and hands out
every address once."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("unit")


def test_two_processes_never_hold_the_same_block(tmp_path: Path) -> None:
    # Two pools in one process stand for two processes: each lock is its own open file.
    first, second = AddressPool(tmp_path, range(30, 32)), AddressPool(tmp_path, range(30, 32))
    try:
        assert {first.octet, second.octet} == {30, 31}
        with pytest.raises(RuntimeError, match="held by another test process"):
            AddressPool(tmp_path, range(30, 32))
        first.close()
        third = AddressPool(tmp_path, range(30, 32))   # a process that ended lets go
        assert third.octet == 30
        third.close()
    finally:
        first.close()
        second.close()


def test_blocks_are_consecutive_and_never_handed_out_twice(tmp_path: Path) -> None:
    pool = AddressPool(tmp_path, range(40, 41))
    try:
        blocks = [pool.take(n) for n in (1, 8, 300, 2)]
        seen = [address for block in blocks for address in block.all]
        assert len(seen) == len(set(seen)) == 311
        assert blocks[0].first == "127.40.0.1" and blocks[2][0] == "127.40.0.10"
        assert blocks[2].last == "127.40.1.53" and len(blocks[2]) == 300
        assert all(ipaddress.IPv4Address(a) in ipaddress.IPv4Network("127.40.0.0/16")
                   for a in seen)
        with pytest.raises(IndexError):
            blocks[1][8]
        with pytest.raises(RuntimeError, match="used up"):
            pool.take(65536)
    finally:
        pool.close()
