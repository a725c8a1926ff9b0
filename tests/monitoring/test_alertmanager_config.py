"""alertmanager/alertmanager.yml: amtool's checks, and its routing and inhibition run by a
real Alertmanager against a webhook served by the test."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.monitoring.stack import (
    ALERTMANAGER_YML,
    WebhookReceiver,
    alert_rules,
    alertmanager_config_for_test,
    binary,
    http_json,
    load_yaml,
    run,
    start_alertmanager,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")


def test_amtool_check_config_passes() -> None:
    result = run(binary("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_commented_email_and_chat_examples_pass_amtool_once_uncommented(tmp_path) -> None:
    lines = []
    for line in ALERTMANAGER_YML.read_text().splitlines():
        match = re.match(r"^(\s*)# (\s*(?:[a-z_]+:|- ).*)$", line)
        lines.append(match.group(1) + match.group(2) if match else line)
    uncommented = tmp_path / "alertmanager.yml"
    uncommented.write_text("\n".join(lines) + "\n")
    config = load_yaml(uncommented)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"webhook", "email", "chat"}
    assert "email_configs" in receivers["email"] and "slack_configs" in receivers["chat"]
    # Secrets are read from files (Docker secrets), never written in the YAML.
    assert config["global"]["smtp_auth_password_file"].startswith("/run/secrets/")
    assert receivers["chat"]["slack_configs"][0]["api_url_file"].startswith("/run/secrets/")
    result = run(binary("amtool"), "check-config", str(uncommented))
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_secret_is_written_in_the_config() -> None:
    text = ALERTMANAGER_YML.read_text()
    for key in ("smtp_auth_password", "auth_password", "api_url", "bot_token", "password"):
        for match in re.finditer(rf"^\s*#?\s*{key}\s*:", text, re.M):
            pytest.fail(f"{key} written in alertmanager.yml (use the *_file form): {match.group(0)}")


@pytest.mark.parametrize("labels, receiver", [
    ({"alertname": "BambuPrinterOffline", "printer": "p1s-001", "severity": "warning"}, "webhook"),
    ({"alertname": "BambuPrinterHMSFatal", "printer": "p1s-001", "severity": "critical"}, "webhook"),
    ({"alertname": "BambuExporterDown", "severity": "critical"}, "webhook"),
])
def test_amtool_routes_alerts_to_the_webhook(labels, receiver) -> None:
    result = run(binary("amtool"), "config", "routes", "test",
                 f"--config.file={ALERTMANAGER_YML}", f"--verify.receivers={receiver}",
                 *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_routing_groups_by_printer_and_inhibits_an_offline_printers_other_alerts() -> None:
    config = load_yaml(ALERTMANAGER_YML)
    assert config["route"]["group_by"] == ["printer"]
    offline = [rule for rule in config["inhibit_rules"]
               if rule["source_matchers"] == ['alertname="BambuPrinterOffline"']]
    assert len(offline) == 1
    assert {"printer", "serial"} <= set(offline[0]["equal"])
    # Every alert the inhibitions name exists in alerts.yml.
    names = {rule["alert"] for rule in alert_rules()}
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            for name in re.findall(r"Bambu\w+", matcher):
                assert name in names, name


def _alert(name: str, printer: str, severity: str = "warning") -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": name, "severity": severity, "job": "bambu",
                   "instance": "exporter:9851", "printer": printer, "serial": f"SN-{printer}"},
        "annotations": {"summary": f"{name} on {printer}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }


def test_real_alertmanager_groups_per_printer_and_inhibits_behind_offline(tmp_path) -> None:
    """Alerts posted to a real Alertmanager running the shipped routing (only the webhook
    URL and the group waits changed): one notification per printer, and an offline
    printer's flapping and failed-print alerts held back while the other printer's
    failed print gets through."""
    webhook = WebhookReceiver()
    config = alertmanager_config_for_test(tmp_path, webhook.url)
    alertmanager, url = start_alertmanager(config, tmp_path, tmp_path)
    try:
        http_json(f"{url}/api/v2/alerts", [
            _alert("BambuPrinterOffline", "p1s-001"),
            _alert("BambuPrinterConnectionFlapping", "p1s-001"),
            _alert("BambuPrintFailed", "p1s-001"),
            _alert("BambuPrintFailed", "x1c-001"),
            _alert("BambuPrinterHMSFatal", "x1c-001", "critical"),
        ])
        wait_until(lambda: len({a["labels"]["printer"] for a in webhook.alerts()}) == 2
                   and len(webhook.alerts()) >= 3, 20, interval=0.5,
                   what=f"notifications: {webhook.notifications}\n{alertmanager.log()}")
        time.sleep(2)  # room for any (wrong) late notification
        got = sorted((a["labels"]["printer"], a["labels"]["alertname"]) for a in webhook.alerts())
        assert got == [("p1s-001", "BambuPrinterOffline"),
                       ("x1c-001", "BambuPrintFailed"),
                       ("x1c-001", "BambuPrinterHMSFatal")], got
        for notification in webhook.notifications:
            assert list(notification["groupLabels"]) == ["printer"]
            assert len({a["labels"]["printer"] for a in notification["alerts"]}) == 1
        inhibited = http_json(f"{url}/api/v2/alerts?inhibited=true&active=false&silenced=false")
        assert sorted(a["labels"]["alertname"] for a in inhibited) == [
            "BambuPrintFailed", "BambuPrinterConnectionFlapping"]
        assert {a["labels"]["printer"] for a in inhibited} == {"p1s-001"}
    finally:
        alertmanager.stop()
        webhook.close()


def _amtool(url: str, *args: str):  # noqa: ANN202 - CompletedProcess
    return run(binary("amtool"), f"--alertmanager.url={url}", *args)


def test_amtool_a_fleet_outage_holds_back_its_printers_offline_alerts(tmp_path) -> None:
    """Alerts added with amtool to a real Alertmanager running the shipped inhibitions:
    BambuFleetOffline for job bambu holds back that job's per-printer offline alerts;
    another job's offline printer, and the same printer's print failure, get through."""
    webhook = WebhookReceiver()
    config = alertmanager_config_for_test(tmp_path, webhook.url)
    alertmanager, url = start_alertmanager(config, tmp_path, tmp_path)
    try:
        for labels in (
            ["alertname=BambuFleetOffline", "severity=critical", "job=bambu"],
            *(["alertname=BambuPrinterOffline", "severity=warning", "job=bambu",
               "instance=exporter:9851", f"printer=p{i}", f"serial=S{i}"] for i in (1, 2, 3)),
            ["alertname=BambuPrinterOffline", "severity=warning", "job=farm2",
             "instance=b:9851", "printer=q1", "serial=Q1"],
            ["alertname=BambuPrintFailed", "severity=warning", "job=bambu",
             "instance=exporter:9851", "printer=p4", "serial=S4"],
        ):
            result = _amtool(url, "alert", "add", *labels, "--annotation=summary=test")
            assert result.returncode == 0, result.stdout + result.stderr

        def inhibited() -> list[str] | None:
            result = _amtool(url, "alert", "query", "--inhibited", "-o", "json")
            assert result.returncode == 0, result.stderr
            held = sorted(a["labels"]["printer"] for a in json.loads(result.stdout)
                          if a["status"]["inhibitedBy"])
            return held if len(held) == 3 else None

        assert wait_until(inhibited, 20, interval=0.5,
                          what=f"inhibitions\n{alertmanager.log()}") == ["p1", "p2", "p3"]
        result = _amtool(url, "alert", "query", "-o", "json")   # active: not held back
        active = sorted((a["labels"]["alertname"], a["labels"].get("printer", ""))
                        for a in json.loads(result.stdout))
        assert active == [("BambuFleetOffline", ""), ("BambuPrintFailed", "p4"),
                          ("BambuPrinterOffline", "q1")]
    finally:
        alertmanager.stop()
        webhook.close()


def test_amtool_routes_info_alerts_once_a_day() -> None:
    result = run(binary("amtool"), "config", "routes", "show",
                 f"--config.file={ALERTMANAGER_YML}")
    assert result.returncode == 0, result.stderr
    config = load_yaml(ALERTMANAGER_YML)
    info = [r for r in config["route"]["routes"] if r.get("matchers") == ['severity="info"']]
    assert len(info) == 1 and info[0]["repeat_interval"] == "24h"
    result = run(binary("amtool"), "config", "routes", "test",
                 f"--config.file={ALERTMANAGER_YML}", "--verify.receivers=webhook",
                 "alertname=BambuPrinterFirmwareUpdate", "severity=info", "printer=x")
    assert result.returncode == 0, result.stdout + result.stderr
