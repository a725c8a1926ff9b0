"""offline_reason.py: one closed vocabulary for why a printer is offline, said the same
way by the metric, the page, the alert and the code."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from exporter.metrics.catalogue import CATALOGUE
from exporter.printer.offline_reason import COUNTED_REASONS, OfflineReason
from exporter.printer.status import PrinterStatus
from exporter.web.attention import offline_trouble

pytestmark = pytest.mark.tier("unit")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exporter"
GOLDEN = ROOT / "tests" / "metrics" / "golden" / "metrics.prom"
ALERTS = ROOT / "prometheus" / "alerts.yml"


@pytest.mark.parametrize("reason", list(OfflineReason), ids=lambda r: r.label)
def test_every_reason_has_a_label_words_and_a_fix(reason: OfflineReason) -> None:
    assert re.fullmatch(r"[a-z][a-z_]*", reason.label), reason
    assert reason.words.strip() and reason.fix.strip(), reason
    # words follow "offline: ", fixes are said to a person: neither ends in a full stop
    assert not reason.words.endswith(".") and not reason.fix.endswith("."), reason


def test_labels_are_distinct() -> None:
    labels = [r.label for r in OfflineReason]
    assert len(labels) == len(set(labels))


def test_the_counted_reasons_are_the_exposed_label_values_in_order() -> None:
    """The golden exposition's reason values, in its order: a renamed or reordered
    member changes every dashboard and alert that reads the series."""
    first = re.search(r'bambu_printer_connection_errors_total\{printer="([^"]*)"',
                      GOLDEN.read_text())
    assert first is not None
    exposed = re.findall(r'bambu_printer_connection_errors_total\{printer="'
                         + re.escape(first.group(1)) + r'",reason="([a-z_]+)"',
                         GOLDEN.read_text())
    assert exposed == [r.label for r in COUNTED_REASONS]
    assert OfflineReason.WORKER not in COUNTED_REASONS   # no session counts it


def test_the_metric_help_names_every_counted_reason() -> None:
    (spec,) = [s for s in CATALOGUE if s.name == "bambu_printer_connection_errors_total"]
    named = re.findall(r"[a-z_]+", spec.help.split(":", 1)[1])
    assert named == [r.label for r in COUNTED_REASONS]


def test_the_offline_alert_has_words_for_every_counted_reason_and_no_other() -> None:
    branches = re.findall(r'eq \$reason "([a-z_]+)"', ALERTS.read_text())
    assert sorted(branches) == sorted(r.label for r in COUNTED_REASONS)


@pytest.mark.parametrize("reason", list(OfflineReason), ids=lambda r: r.label)
def test_the_page_says_each_reasons_words_and_fix(reason: OfflineReason) -> None:
    status = PrinterStatus(name="p", serial="S", ip="192.0.2.1", model="X1C", firmware="",
                           up=False, connected=False, last_report=None, snapshot=None,
                           last_error_reason=reason)
    trouble = offline_trouble(status)
    assert trouble.text == f"offline: {reason.words}" and trouble.fix == reason.fix


def test_a_reason_crosses_the_worker_pipe_as_itself() -> None:
    for reason in OfflineReason:
        assert pickle.loads(pickle.dumps(reason)) is reason


# String literals that spell a reason's label but mean something else, by module.
NOT_REASONS = {
    "cli.py": {"timeout"},                              # a flag's name
    "web/healthcheck.py": {"timeout"},                  # a flag's name
    "fleet/worker_metrics.py": {"worker"},              # a label name
    "logs.py": {"worker"},                              # a log field
    "printer/mqtt/client_session.py": {"refused"},      # a slot of the session
    "printer/error_texts.py": {"refused"},              # why a texts file was refused
    "printer/probe.py": {"certificate", "protocol", "refused"},   # the probe's steps
}


def test_no_module_spells_a_reason_as_a_string() -> None:
    """Every offline reason is a member; a label written as a string elsewhere is the
    typo mypy cannot see (job files' fetch reasons are a vocabulary of their own)."""
    labels = {r.label for r in OfflineReason}
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith(("simulator/", "printer/job_file/")) \
                or where == "printer/offline_reason.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in labels \
                    and node.value not in NOT_REASONS.get(where, set()):
                stray.append(f"{where}:{node.lineno}: {node.value!r}")
    assert not stray, "use OfflineReason, not a string:\n" + "\n".join(stray)


def test_a_reason_formats_as_its_label() -> None:
    """Logs (and people grepping them) read the label the metric carries."""
    assert f"{OfflineReason.AUTH}" == "auth" and str(OfflineReason.SILENT) == "silent"
