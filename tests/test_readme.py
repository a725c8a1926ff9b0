"""The README is a contract: its two commands, the metric table (wherever the docs keep
it) and CI's entry point."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from exporter.metrics.catalogue import CATALOGUE
from tests.support.docs import page_with

pytestmark = pytest.mark.tier("unit")

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_two_setup_commands_open_the_readme_and_exist() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["./scripts/run", "./scripts/test"]
    for command in commands:
        path = ROOT / command
        assert path.is_file() and os.access(path, os.X_OK), command
    assert README.index("./scripts/run") < 800   # at the top, before anything else


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec \./scripts/test\s*$", ci, re.M), ci


def test_metric_table_matches_the_catalogue() -> None:
    table = page_with("<!-- metrics-table")
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| bambu_")]
    documented = [(cells[1].strip(), cells[2].strip()) for cells in rows]
    assert documented == [(spec.name, spec.kind) for spec in CATALOGUE]
    for cells, spec in zip(rows, CATALOGUE, strict=False):
        for label in spec.labels:
            assert label in cells[3], (spec.name, label)
