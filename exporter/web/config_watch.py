"""The web config, re-read when the file or a file it names changes (certificates rotate).

Checked at most once a second, when a connection arrives. A change that does not load
(a half-written certificate, a typo) is logged once and the last good config stays.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from exporter.errors import ConfigError
from exporter.web.web_config import WebConfig, load_web_config

log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0

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
    """current() -> the config in force; reloads on change, keeps the last good one."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._config = load_web_config(path)   # a bad file at start-up is a ConfigError
        self._stamp = _stamp(self._config.files)
        self._checked = clock()
        self._last_error: str | None = None
        self.reloads = 0

    def current(self) -> WebConfig:
        now = self._clock()
        if now - self._checked >= CHECK_INTERVAL:
            self._checked = now
            stamp = _stamp(self._config.files)
            if stamp != self._stamp:
                self._reload(stamp)
        return self._config

    def _reload(self, stamp: Stamp) -> None:
        try:
            config = load_web_config(self.path)
        except ConfigError as exc:
            if str(exc) != self._last_error:
                log.warning("web config changed but does not load, keeping the last good "
                            "one: %s", exc)
                self._last_error = str(exc)
            return   # the stamp is kept: retried until it loads
        self._config, self._stamp, self._last_error = config, _stamp(config.files), None
        self.reloads += 1
        log.info("web config reloaded from %s", self.path)
