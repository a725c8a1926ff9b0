"""Property: any JSON a printer sends, through decoding, merge, snapshot, samples and
rendering, never raises and always gives an exposition the real promtool accepts.

Hypothesis draws report-shaped JSON (the keys the snapshot reads, at the depths it reads
them, holding any JSON value: huge integers, NaN, lone surrogates, long text, wrong
types) and fully arbitrary JSON. Every example becomes one printer of a fleet; the fleet's
exposition goes through promtool once, so the test costs one promtool run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.metrics.catalogue import families, printer_samples
from exporter.metrics.exposition import render
from exporter.printer.merge import MergedReport
from exporter.printer.sanitize import MessageRejected, decode_message
from exporter.printer.snapshot import firmware_from_version, model_from_version, snapshot
from exporter.printer.status import PrinterStatus
from exporter.printer.vocabulary import SERIAL_PREFIX_MODELS
from tests.support.reference import fleet_samples
from tests.support.report_strategies import MESSAGE

pytestmark = pytest.mark.tier("e2e")

# The model is derived (serial prefix, or a product name that came through decoding).
MODEL = st.sampled_from([*SERIAL_PREFIX_MODELS.values(), "unknown"]) | st.text(max_size=12)


def printer_status(index: int, messages: list[Any], model: str, decode: bool) -> PrinterStatus:
    """What a session makes of these messages (its decoding and merge, without MQTT); or,
    without `decode`, the raw values merged as they are, so that the snapshot's own
    defences are tested too."""
    merged = MergedReport()
    errors: dict[str, int] = {}
    version: dict[str, Any] | None = None
    for message in messages:
        if not decode:
            if isinstance(message, dict):
                merged.merge({"print": message["print"]} if "print" in message else {})
                info = message.get("info")
                version = info if isinstance(info, dict) else version
            continue
        payload = json.dumps(message).encode()   # NaN and Infinity as Python writes them
        try:
            decoded = decode_message(payload)
        except MessageRejected as rejected:
            errors[rejected.reason] = errors.get(rejected.reason, 0) + 1
            continue
        merged.merge(decoded.report)
        version = decoded.version or version
    snap = snapshot(merged.report, model)
    return PrinterStatus(name=f"p{index}", serial=f"S{index:05d}", ip="192.0.2.1",
                         model=model_from_version(version) or model,
                         firmware=firmware_from_version(version) or "", up=True, connected=True,
                         last_report=1.0, snapshot=snap, message_errors=errors,
                         truncations=merged.cuts)


class Fixed:
    def __init__(self, metrics: list[Any]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Any]:
        return self.metrics


def test_any_json_through_the_pipeline_renders_a_valid_exposition() -> None:
    fleet: list[PrinterStatus] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.lists(MESSAGE, min_size=1, max_size=4), MODEL)
    def one_printer(messages: list[Any], model: str) -> None:
        for decode in (True, False):
            status = printer_status(len(fleet), messages, model, decode)
            metrics = families(printer_samples(status))
            render(Fixed(metrics), openmetrics=False).decode("utf-8")
            render(Fixed(metrics), openmetrics=True).decode("utf-8")
            fleet.append(status)

    one_printer()
    failed: list[Exception] = []
    samples = fleet_samples(fleet, lambda status, exc: failed.append(exc))
    assert failed == []
    text = render(Fixed(families(samples)), openmetrics=False).decode("utf-8")
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: ./scripts/system-deps installs it"
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode("utf-8"),
                            capture_output=True, timeout=120)
    # promtool's lint (names, units) is the golden test's business: parse errors here.
    assert b"parsing error" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
