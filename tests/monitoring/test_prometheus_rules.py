"""Prometheus configuration and alert rules, checked with the real promtool."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from tests.monitoring.stack import (
    ALERTMANAGER_YML,
    ALERTS,
    ALERTS_TEST,
    PROMETHEUS_DIR,
    PROMETHEUS_YML,
    alert_rules,
    binary,
    exporter_metric_names,
    load_yaml,
    metric_names_in,
    run,
    runbook_anchors,
)
from tests.monitoring.stack import RUNBOOK as RUNBOOK_MD

pytestmark = pytest.mark.tier("unit")

ALERTS_MD = RUNBOOK_MD.parent / "alerts.md"

RUNBOOK = "docs/runbook.md#"
PRINTER_GROUP = "bambu-printers"


@pytest.mark.tier("e2e")
def test_promtool_check_config_accepts_prometheus_yml_and_its_rule_files() -> None:
    result = run(binary("promtool"), "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_prometheus_yml_scrapes_the_exporter_and_sends_to_alertmanager() -> None:
    config = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["bambu"]["static_configs"][0]["targets"] == ["exporter:9851"]
    assert config["rule_files"] == ["alerts.yml"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


@pytest.mark.tier("e2e")
def test_promtool_check_rules_accepts_alerts_yml() -> None:
    result = run(binary("promtool"), "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tier("e2e")
def test_promtool_rule_unit_tests_pass() -> None:
    result = run(binary("promtool"), "test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.tier("e2e")
def test_rule_unit_tests_can_fail(tmp_path) -> None:
    """The unit tests compare annotations exactly: a changed description fails them."""
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    text = ALERTS_TEST.read_text().replace("has been paused for more than 30 minutes",
                                           "has been paused for a while")
    (tmp_path / "alerts.test.yml").write_text(text)
    result = run(binary("promtool"), "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "BambuPrintPausedTooLong" in result.stdout + result.stderr


EXPECTED_ALERTS = {
    "BambuExporterDown", "BambuExporterAbsent", "BambuInventoryUnreachable",
    "BambuPrinterOffline", "BambuPrintFailed", "BambuPrinterHMSFatal", "BambuPrinterHMSSerious",
    "BambuPrintPausedTooLong", "BambuPrintStalled", "BambuAMSHumidityHigh",
    "BambuPrinterConnectionFlapping",
    # the farm's questions: trouble in words, health, many printers at once, the exporter
    "BambuExporterCollectErrors", "BambuExporterWorkerRestarts", "BambuInventoryRejectedRows",
    "BambuShardsMissing", "BambuFleetOffline", "BambuPrinterFilamentRunout",
    "BambuPrinterDoorOpenWhilePrinting", "BambuPrinterTemperatureOffTarget",
    "BambuPrinterSDCardAbnormal", "BambuPrinterMessageErrors", "BambuPrinterFirmwareUpdate",
    # filament: the job's plan from its 3MF against what is left on the spool
    "BambuSpoolRunsOutBeforeJobEnds",
    # jobs: a plate waiting for a hand, a printer failing most of its jobs
    "BambuPlateWaiting", "BambuPrinterFailingJobs",
}


def test_every_expected_alert_exists() -> None:
    assert {rule["alert"] for rule in alert_rules()} == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_summary_description_and_a_real_runbook_section(rule) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert len(annotations["description"]) > 80, "description should say what to look at"
    section = annotations["runbook"]
    assert section.startswith(RUNBOOK), section
    assert section[len(RUNBOOK):] in runbook_anchors(), f"no heading in docs/runbook.md: {section}"


def test_no_link_to_a_repository_that_does_not_exist() -> None:
    """Runbook text lives in the annotations and docs/runbook.md; a base URL for the docs
    is the user's to give, so nothing links to a guessed repository."""
    for path in (ALERTS, ALERTS_TEST, ALERTMANAGER_YML, RUNBOOK_MD, ALERTS_MD):
        assert "github.com" not in path.read_text(), path


def test_docs_alerts_page_lists_every_alert_with_its_severity() -> None:
    text = ALERTS_MD.read_text()
    rows = {cells[1].strip().strip("`"): cells[2].strip()
            for cells in (line.split("|") for line in text.splitlines())
            if len(cells) > 3 and cells[1].strip().startswith("`Bambu")}
    assert set(rows) == EXPECTED_ALERTS
    for rule in alert_rules():
        assert rows[rule["alert"]] == rule["labels"]["severity"], rule["alert"]


def test_printer_alerts_name_the_printer_and_keep_its_labels() -> None:
    groups = {g["name"]: g["rules"] for g in load_yaml(ALERTS)["groups"]}
    for rule in groups[PRINTER_GROUP]:
        for key in ("summary", "description"):
            assert "$labels.printer" in rule["annotations"][key], (rule["alert"], key)
        assert "$labels.serial" in rule["annotations"]["description"], rule["alert"]
        # Aggregations must keep the labels Alertmanager groups and inhibits on.
        for by in re.findall(r"\bby \(([^)]*)\)", rule["expr"]):
            assert {"job", "instance", "printer", "serial"} <= {
                label.strip() for label in by.split(",")}, (rule["alert"], by)


def test_alert_for_durations_are_sensible() -> None:
    def seconds(text: str) -> int:
        value, unit = re.fullmatch(r"(\d+)([smh])", text).groups()
        return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]

    for rule in alert_rules():
        hold = seconds(rule.get("for", "0s"))
        # Only a failed print is an event that needs no confirmation.
        if rule["alert"] != "BambuPrintFailed":
            assert 60 <= hold <= 3600, (rule["alert"], hold)


def test_rules_only_use_metrics_the_exporter_exposes() -> None:
    known = exporter_metric_names()
    unknown = {rule["alert"]: sorted(missing) for rule in alert_rules()
               if (missing := metric_names_in(rule["expr"] + " ".join(
                   rule["annotations"].values())) - known)}
    assert unknown == {}, "alerts naming metrics the exporter's catalogue lacks"


def test_unit_tests_cover_every_alert_firing_and_the_lookalikes_staying_silent() -> None:
    tests = load_yaml(ALERTS_TEST)["tests"]
    fired, silent = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check["exp_alerts"] else silent).add(check["alertname"])
    assert fired == EXPECTED_ALERTS
    assert silent == EXPECTED_ALERTS

    names = " ".join(case["name"] for case in tests)
    assert "idle" in names and "finished print does not" in names
    assert "just seen is not judged stalled" in names  # a fresh series must not fire


WIKI = "https://wiki.bambulab.com/en/{{ $family }}/troubleshooting/hmscode/"
WIKI_INDEX = "https://wiki.bambulab.com/en/hms/home"


@pytest.mark.parametrize("name", ["BambuPrinterHMSFatal", "BambuPrinterHMSSerious",
                                  "BambuPrintFailed"])
def test_error_alerts_carry_the_text_and_the_wiki_page_of_each_code(name: str) -> None:
    rule = next(r for r in alert_rules() if r["alert"] == name)
    description = rule["annotations"]["description"]
    assert "bambu_printer_hms_error_info" in description
    assert "$m.Labels.description" in description and WIKI + "{{ $m.Labels.code }}" in description
    assert rule["annotations"]["wiki_url"].count(WIKI) == 1
    # the model family's section of the wiki, the HMS index where there is none
    for text in (description, rule["annotations"]["wiki_url"]):
        assert "bambu:printer_hms_wiki_family:info" in text and WIKI_INDEX in text
    # only the alert's own exporter is asked (a printer moving between shards: listed once)
    assert "instance=%q" in description
    if name == "BambuPrintFailed":
        assert "bambu_printer_print_error_info" in description


def test_wiki_families_name_models_the_exporter_knows() -> None:
    from exporter.printer.vocabulary import MODELS
    record = next(rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]
                  if rule.get("record") == "bambu:printer_hms_wiki_family:info")
    models = set()
    for pattern in re.findall(r'model=~?"([^"]+)"', record["expr"]):
        models |= set(pattern.split("|"))
    assert models <= set(MODELS)
    families = set(re.findall(r'"family", "([a-z0-9-]+)"', record["expr"]))
    assert families == {"x1", "a1", "a1-mini", "p2s", "h2d", "h2s", "h2c", "x2d"}


def test_the_rule_test_file_is_valid_yaml_naming_alerts_yml() -> None:
    assert yaml.safe_load(ALERTS_TEST.read_text())["rule_files"] == ["alerts.yml"]


def test_every_jobs_recording_rule_is_evaluated_by_a_unit_test() -> None:
    groups = {g["name"]: g["rules"] for g in load_yaml(ALERTS)["groups"]}
    recorded = {rule["record"] for rule in groups["bambu-jobs"]}
    assert {"bambu:printer_job_success:ratio1d", "bambu:model_job_success:ratio1d",
            "bambu:fleet_job_success:ratio1d", "bambu:printer_utilisation:ratio1h",
            "bambu:model_utilisation:ratio1h", "bambu:fleet_utilisation:ratio1h"} <= recorded
    tested = {check["expr"] for case in load_yaml(ALERTS_TEST)["tests"]
              for check in case.get("promql_expr_test", [])}
    # the day's increase is tested through the ratios built on it
    assert recorded - {"bambu:printer_jobs:increase1d"} <= tested
