"""Give freed scrape buffers back to the system.

A scrape builds and frees strings of every size; glibc keeps what is freed. Fixing the
mmap threshold lets multi-megabyte buffers be unmapped on free (glibc would raise it after
the first free), and malloc_trim after each scrape returns the heap's free pages
(docs/architecture.md has the figures).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3      # mallopt parameter (glibc malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default, kept fixed instead of growing


class Allocator:
    """The C library's allocator where it is glibc; where it is not, nothing to do."""

    def __init__(self) -> None:
        self._libc: ctypes.CDLL | None = None
        name = ctypes.util.find_library("c")
        if name:
            try:
                libc = ctypes.CDLL(name)
                if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                    self._libc = libc
            except OSError:
                pass

    def return_large_allocations(self) -> bool:
        """Keep glibc from retaining freed multi-megabyte blocks; False where there is
        no glibc."""
        return self._libc is not None and bool(
            self._libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))

    def trim(self) -> None:
        """Return the heap's free pages to the system (after a scrape)."""
        if self._libc is not None:
            self._libc.malloc_trim(0)
