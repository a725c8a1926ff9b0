"""--filament.prices: parsed strictly, re-read on change, the last good kept."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest

from exporter.errors import ConfigError
from exporter.printer.job_file.book import FilamentBook
from exporter.printer.job_file.fetch import FetchResult, FetchTarget
from exporter.printer.job_file.plan import JobPlan, PlannedFilament
from exporter.printer.job_file.prices import PriceFile, load_prices, parse_prices

pytestmark = pytest.mark.tier("unit")

GOOD = "currency: EUR\nprices:\n  PLA: 20\n  GFA00: 25.5\n  PETG: 24\n"


def test_a_profile_price_wins_over_its_material() -> None:
    prices = parse_prices(GOOD)
    assert prices.currency == "EUR"
    assert prices.price(PlannedFilament(1, "GFA00", "PLA", "", 1, 1)) == 25.5
    assert prices.price(PlannedFilament(1, "GFA99", "PLA", "", 1, 1)) == 20
    assert prices.price(PlannedFilament(1, "", "ABS", "", 1, 1)) is None


@pytest.mark.parametrize("text,why", [
    ("currency: EUR\nprices: {PLA: -1}", "not a price"),
    ("currency: EUR\nprices: {PLA: .nan}", "not a price"),
    ("currency: EUR\nprices: {PLA: cheap}", "not a price"),
    ("currency: EUR\nprices: {PLA: true}", "not a price"),
    ("currency: euro\nprices: {PLA: 20}", "currency"),
    ("currency: EUR\nprices: {'../x': 20}", "not a material"),
    ("currency: EUR\nprices: []", "prices"),
    ("- a list", "mapping"),
    ("{", "not YAML"),
])
def test_bad_prices_say_why(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse_prices(text)


def test_a_bad_file_keeps_the_last_good_prices(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(GOOD)
    prices = PriceFile(str(path), load_prices(str(path)), check_every=0.0)
    path.write_text("currency: EUR\nprices: {PLA: -5}\n")
    with caplog.at_level(logging.WARNING):
        current = prices.current()
    assert current is not None and current.per_kg["PLA"] == 20
    assert "keeping the last good" in caplog.text and "not a price" in caplog.text
    path.write_text("currency: USD\nprices: {PLA: 30}\n")   # the same size as the bad one
    os.utime(path, ns=(10, 10))   # a stamp of its own, however coarse the file system's clock
    current = prices.current()
    assert current is not None and (current.currency, current.per_kg["PLA"]) == ("USD", 30)


def test_cost_is_booked_at_the_price_in_force(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(GOOD)
    book = FilamentBook("p", None, PriceFile(str(path), check_every=math.inf))
    plan = JobPlan(1, None, None, (PlannedFilament(1, "GFA00", "PLA", "", 200.0, 66.0),
                                   PlannedFilament(2, "", "ABS", "", 50.0, 16.0)))
    book.job_started(FetchTarget("127.0.0.1", "x", "job"), "X1C", None, None, None, set())
    book.result(FetchResult(plan, "/job.3mf", 1, False))
    book.job_ended(0.5)
    assert book.status().cost == {("PLA", "EUR"): pytest.approx(0.1 * 25.5)}   # ABS: no price
