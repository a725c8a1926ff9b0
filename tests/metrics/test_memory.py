"""memory.py: freed scrape buffers go back to the system, so RSS after a scrape is what the
exporter holds, not what its biggest scrape once needed. Each case runs in a fresh
process (the allocator settings are process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.e2e import REPO

pytestmark = pytest.mark.tier("e2e")

# Build and free multi-megabyte strings as a scrape does, with long-lived allocations in
# between (the sessions' data); print the RSS growth and what was kept on purpose, in KiB.
SCRAPES = """
import sys
from exporter.metrics.memory import Allocator
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
if sys.argv[1] == "on":
    assert Allocator().return_large_allocations()
kept = []
base = rss()
for _ in range(20):
    parts = ["x" * (3 << 20) for _ in range(4)]
    kept.append(bytearray(200_000))
    joined = "".join(parts)
    del parts
    kept.append(bytearray(200_000))
    del joined
print(rss() - base, sum(map(len, kept)) // 1024)
"""


def grown(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", SCRAPES, mode], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


def test_freed_scrape_buffers_leave_the_process() -> None:
    retained, kept = grown("on")
    assert retained < kept + 4 * 1024, (retained, kept)


def test_without_it_the_allocator_keeps_them() -> None:
    # The premise of memory.py, so that the test above can fail: glibc's growing mmap
    # threshold keeps such buffers in the heap, behind the long-lived allocations.
    retained_off, kept = grown("off")
    retained_on, _ = grown("on")
    assert retained_off > retained_on + 10 * 1024, (retained_off, retained_on, kept)


# Free many mid-sized blocks (a family's lines: tens of kB, below the mmap threshold) with
# long-lived ones between them, as rendering does; then trim, or not. The long-lived ones
# are 1000 bytes, past pymalloc's 512, so that they sit in glibc's heap between the freed
# blocks (smaller ones would go to pymalloc's arenas, and the freed blocks could merge
# into the top of the heap and leave by themselves, depending on what ran before).
MIDSIZED = """
import sys
from exporter.metrics.memory import Allocator
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
allocator = Allocator()
base = rss()
kept, blocks = [], []
for i in range(3000):
    blocks.append(bytearray(b"x" * 40_000))
    kept.append(bytearray(1000))
del blocks
freed = rss()
if sys.argv[1] == "trim":
    allocator.trim()
print(freed - base, rss() - base)
"""


def test_a_trim_returns_the_heaps_free_pages() -> None:
    def after(mode: str) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", MIDSIZED, mode], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()
        return int(out[0]), int(out[1])

    held, untrimmed = after("none")
    assert untrimmed > 64 * 1024, untrimmed   # freed, still in RSS: the premise (~116 MiB)
    _, trimmed = after("trim")
    assert trimmed < 16 * 1024, (held, trimmed)   # the 3 MB kept, and page ends
