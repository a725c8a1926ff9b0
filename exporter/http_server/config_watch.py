"""The web config, re-read when the file or a file it names changes (certificates rotate).

A thread looks once a second, so reading never happens on the event loop (a FIFO put in
the file's place cannot stall requests). A change is applied only once the files have
stayed the same (size, mtime, inode) over two looks: an editor that truncates and then
writes is read after it has finished. A new config that does not load, or that would
lower security (turn off TLS or basic auth, loosen client certificates), is refused: the
last good config stays, the error is logged once per distinct file state, and the
counters say so. Lowering security takes a restart. A load that hangs (a stuck mount) is
given up after READ_TIMEOUT, so the next look still comes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from exporter.errors import ConfigError
from exporter.http_server.web_config import WebConfig, load_web_config, lowered_security
from exporter.text import HungReads, ReadHung

log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0
READ_TIMEOUT = 10.0   # longest a reload may hang in reading its files before it is given up

Stamp = tuple[tuple[int, int, int], ...]


def _stamp(files: tuple[Path, ...]) -> Stamp:
    stamps = []
    for file in files:
        try:
            st = os.stat(file)
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stamps.append((-1, -1, -1))
    return tuple(stamps)


class WebConfigWatcher:
    """current() -> the config in force (no I/O); look() re-reads a changed, settled file
    (blocking: call it off the event loop; start() runs it in a thread)."""

    def __init__(self, path: str, interval: float = CHECK_INTERVAL,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.path = path
        self.interval = interval
        self._reads = HungReads(read_timeout)
        self._config = load_web_config(path)   # a bad file at start-up is a ConfigError
        self._stamp = _stamp(self._config.files)
        self._pending: Stamp | None = None     # a change seen at the last look
        self._last_failure: tuple[Stamp | None, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0                       # applied changes: the config's generation
        self.failures = 0                      # reloads refused (counted once per file state)
        self.last_ok = True
        # told (old, new) after a change is applied, in this watcher's thread
        self.on_applied: Callable[[WebConfig, WebConfig], None] | None = None

    def current(self) -> WebConfig:
        return self._config

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="web-config")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.look()
            except Exception as exc:   # a bug must not end the reloads for good
                self._fail(None, f"reload failed unexpectedly: {exc!r}")

    def look(self) -> None:
        """One look: note a change, or apply one that has settled since the last look."""
        stamp = _stamp(self._config.files)
        if stamp == self._stamp:
            self._pending = None
            return
        if stamp != self._pending:
            self._pending = stamp   # still changing, or just changed: look again first
            return
        try:
            config = self._reads.run(lambda: load_web_config(self.path))
        except ReadHung as exc:
            self._pending = None   # not read: look again
            self._fail(stamp, f"web config changed but reading it hangs, keeping the last "
                              f"good one: {exc}")
            return
        except ConfigError as exc:
            self._fail(stamp, f"web config changed but does not load, keeping the last good "
                              f"one: {exc}")
            return
        if _stamp(self._config.files) != stamp:
            self._pending = None   # changed while we read it: wait for it to settle again
            return
        lowered = lowered_security(self._config, config)
        if lowered is not None:
            self._fail(stamp, f"web config {self.path} would {lowered}: refused, keeping "
                              "the last good one (lowering security takes a restart)")
            return
        old = self._config
        self._config, self._stamp = config, _stamp(config.files)
        self._pending, self._last_failure, self.last_ok = None, None, True
        self.reloads += 1   # after the config: a generation read first is never newer
        log.info("web config reloaded from %s", self.path)
        if self.on_applied is not None:
            self.on_applied(old, config)

    def _fail(self, stamp: Stamp | None, message: str) -> None:
        # Retried at every look (a certificate it names may be written next); counted and
        # logged once per file state and message.
        self.last_ok = False
        if (stamp, message) != self._last_failure:
            self._last_failure = (stamp, message)
            self.failures += 1
            log.error("%s", message)
