"""--filament.prices: price per kilogram by Bambu filament profile (`tray_info_idx`, as in
a 3MF) or by material, in one currency; re-read when the file changes. A file that does
not parse keeps the last good prices and the log says why, once per change.

    currency: EUR
    prices:            # per kg
      PLA: 20
      PETG: 24.5
      GFA00: 25        # Bambu PLA Basic: a profile's price wins over its material's
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from exporter.errors import ConfigError
from exporter.printer.job_file.plan import PlannedFilament
from exporter.text import read_regular_file

MAX_FILE = 256 * 1024
MAX_ENTRIES = 2000
MAX_PRICE = 100_000.0   # per kg: beyond any filament sold
CHECK_EVERY = 5.0       # seconds between looks at the file
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_. ]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prices:
    currency: str
    per_kg: Mapping[str, float] = field(default_factory=dict)

    def price(self, filament: PlannedFilament) -> float | None:
        """Per kg: the profile's price, else the material's, else None (not costed)."""
        for key in (filament.tray_info_idx, filament.material):
            if key and key in self.per_kg:
                return self.per_kg[key]
        return None


def parse_prices(text: bytes | str) -> Prices:
    """The file's text -> Prices; ConfigError saying what is wrong and where."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not YAML: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise ConfigError("expected a mapping with currency and prices")
    currency = doc.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.strip()):
        raise ConfigError("currency: expected a three-letter code such as EUR or USD")
    prices = doc.get("prices")
    if not isinstance(prices, dict) or not prices:
        raise ConfigError("prices: expected a mapping of material or profile to price per kg")
    if len(prices) > MAX_ENTRIES:
        raise ConfigError(f"prices: more than {MAX_ENTRIES} entries")
    out: dict[str, float] = {}
    for key, value in prices.items():
        name = str(key).strip()
        if not _KEY.fullmatch(name):
            raise ConfigError(f"prices: {name[:40]!r} is not a material or profile id")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
            raise ConfigError(f"prices: {name}: {str(value)[:20]!r} is not a price per kg "
                              f"(a number 0..{MAX_PRICE:g})")
        out[name] = float(value)
    return Prices(currency.strip(), out)


def load_prices(path: str) -> Prices:
    """Read and parse the file; ConfigError naming the file."""
    try:
        return parse_prices(read_regular_file(path, MAX_FILE))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class PriceFile:
    """The prices in force: the file's last good reading, looked at again at most every
    CHECK_EVERY seconds and re-read when its size or time changed."""

    def __init__(self, path: str, prices: Prices | None = None,
                 check_every: float = CHECK_EVERY) -> None:
        self.path = path
        self._check_every = check_every
        self._prices: Prices | None = prices
        self._lock = threading.Lock()
        # none given: read at the first look (a worker process starting on a broken file
        # costs nothing until the file is good again)
        self._seen = self._stamp() if prices is not None else None
        self._checked = time.monotonic() if prices is not None else -math.inf

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> Prices | None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self._check_every:
                return self._prices
            self._checked = now
            stamp = self._stamp()
            if stamp == self._seen and self._prices is not None:
                return self._prices
            self._seen = stamp
            try:
                self._prices = load_prices(self.path)
                log.info("filament prices read from %s (%d entries, %s)", self.path,
                         len(self._prices.per_kg), self._prices.currency)
            except ConfigError as exc:
                log.warning("filament prices: keeping the last good ones: %s", exc)
            return self._prices
