"""text.py's file readers: what a refused file is said to be, and reads that hang given up
within their deadline, a bounded few at a time."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from exporter.text import FileRefused, HungReads, ReadHung, SettleRule, read_regular_file
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")


def test_a_refused_file_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"a FIFO \(named pipe\), not a regular file"):
        read_regular_file(fifo, 100)
    with pytest.raises(FileRefused, match="a directory, not a regular file"):
        read_regular_file(tmp_path, 100)


def test_a_read_that_hangs_is_given_up_and_the_next_one_runs() -> None:
    release = threading.Event()
    reads = HungReads(timeout=0.2, limit=2)
    try:
        with pytest.raises(ReadHung, match="no answer within 0.2s"):
            reads.run(lambda: release.wait(30))
        assert reads.run(lambda: "next") == "next"   # the next read is not held up
        with pytest.raises(ReadHung):
            reads.run(lambda: release.wait(30))
        # two reads hang: a third is refused at once rather than left to hang as well
        with pytest.raises(ReadHung, match="2 earlier reads still hang"):
            reads.run(lambda: "refused")
        assert reads.abandoned == 2
    finally:
        release.set()

    def free() -> bool:
        try:
            return reads.run(lambda: True)
        except ReadHung:
            return False
    wait_until(free, 10, what="the hung reads to return")
    with pytest.raises(ValueError, match="its own error"):
        reads.run(lambda: (_ for _ in ()).throw(ValueError("its own error")))


def test_a_change_settles_over_two_looks_or_by_its_own_mtime() -> None:
    now, wall = [100.0], [1_764_000_000.0]
    rule = SettleRule(1.0, clock=lambda: now[0], wall=lambda: wall[0])
    fresh = int((wall[0] - 0.1) * 1e9)            # written a tenth of a second ago
    assert not rule.settled("a", fresh)           # just changed: look again
    now[0] += 0.5
    assert not rule.settled("b", fresh)           # still changing: the wait starts again
    now[0] += 0.9
    assert not rule.settled("b", fresh)
    now[0] += 0.2
    assert rule.settled("b", fresh)               # the same over two looks a second apart
    assert rule.settled("c", int((wall[0] - 5) * 1e9))   # unwritten for five seconds
    assert not rule.settled("d", 0)               # a set stamp (1970): look twice
    assert SettleRule(0).settled("e", fresh)      # no settling asked for
