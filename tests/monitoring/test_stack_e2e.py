"""The whole monitoring stack, live: simulated printers listed in a real PostgreSQL table,
the exporter watching it, a real Prometheus loading the repository's rules and scraping
the exporter, a real Alertmanager with the repository's routing posting to a webhook
served by this test.

Only timings are compressed, and only in generated copies: scrape and evaluation every
second, every alert's `for:` two seconds, Alertmanager's group waits one second. The
queries, rules, grouping and inhibitions are the shipped ones.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
import yaml

from exporter.simulator import Fault, SimulatedFleet, reports
from exporter.simulator.models import AMS_2_PRO, AMS_HT
from exporter.simulator.models import MODELS as MODELS_BY_CODE
from tests.monitoring.stack import (
    PROMETHEUS_YML,
    PYTHON,
    ROOT,
    Child,
    WebhookReceiver,
    alertmanager_config_for_test,
    binary,
    compressed_rules,
    dashboard,
    expand,
    http_json,
    load_yaml,
    panel_targets,
    start_alertmanager,
    wait_http,
)
from tests.support.addresses import AddressPool
from tests.support.postgres import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("stack")

HMS_TEXTS = ROOT / "tests" / "support" / "hms_texts.json"

# Old and new models: a dual-nozzle H2C with a drying AMS 2 Pro, an AMS HT and its door
# open, and a P2S sending deltas in the newer shapes.
MODELS = ["X1C", "H2D", "P1S", "X1C", "P1S", "A1", "H2C", "P2S"]
ROLES = {0: "running", 1: "running", 2: "hms", 3: "offline", 4: "fail", 5: "idle",
         6: "running", 7: "idle"}


def _start_fleet(addresses: AddressPool) -> SimulatedFleet:
    return SimulatedFleet(count=len(MODELS), first_address=addresses.take(len(MODELS)).first,
                          seed=4, life=False, models=MODELS, ftps=True).start()


def _prometheus_config(tmp, exporter: str, alertmanager: str) -> str:
    """The shipped prometheus.yml with local targets, 1s intervals and the compressed rules."""
    config = load_yaml(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(compressed_rules(tmp))]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "bambu"]
    jobs[0]["static_configs"][0]["targets"] = [exporter]
    config["scrape_configs"] = jobs
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def test_stack_end_to_end(printers_db, tmp_path, addresses: AddressPool) -> None:
    cluster, dbname = printers_db
    children: list[Child] = []
    webhook = WebhookReceiver()
    fleet = _start_fleet(addresses)
    try:
        printers = fleet.printers()
        names = {role: printers[i].record.name for i, role in ROLES.items()}
        for i, role in ROLES.items():
            if role == "running":
                printers[i].set_state("RUNNING")
            elif role == "hms":
                printers[i].set_state("RUNNING")
                printers[i].inject(Fault.HMS)
            elif role in ("fail", "offline"):
                printers[i].set_state("RUNNING")
            else:
                printers[i].set_state("IDLE")
        h2c = printers[6]
        tray = {"id": "0", "state": 11, "tray_type": "PETG", "tray_color": "FF0000FF",
                "remain": 60}
        h2c.update({"print": {
            "ams": reports.ams_block([
                {"id": "0", "info": reports.ams_info(AMS_2_PRO, drying=True), "humidity": "3",
                 "humidity_raw": "30", "temp": "55.0", "dry_time": 120, "tray": [tray]},
                {"id": "128", "info": reports.ams_info(AMS_HT), "humidity": "4",
                 "humidity_raw": "20", "temp": "27.0", "dry_time": 0, "tray": [dict(tray)]}]),
            **reports.door_fields(MODELS_BY_CODE["H2C"], True)}})
        printers[0].inject(Fault.FIRMWARE_UPDATE)   # the health table's "update on offer"
        fleet.write_postgres(cluster.dsn(dbname))
        prices = tmp_path / "prices.yaml"
        prices.write_text("currency: EUR\nprices: {PLA: 20, PETG: 25, ABS: 22, TPU: 40, ASA: 30, "
                          "PA: 60, PC: 45, PVA: 80}\n")

        # -- exporter, watching the table ---------------------------------------------------
        exporter_port = free_port()
        env = {**_base_env(), **cluster.env(dbname)}
        exporter = Child("exporter", [PYTHON, "-m", "exporter",
                                      "--web.listen-address", f"127.0.0.1:{exporter_port}",
                                      "--printer.staleness", "3s", "--log.level", "debug",
                                      "--hms.text-file", str(HMS_TEXTS),
                                      "--filament.prices", str(prices)],
                         tmp_path, env=env, cwd=ROOT)
        children.append(exporter)
        wait_http(f"http://127.0.0.1:{exporter_port}/healthz", exporter)

        # -- alertmanager and prometheus ---------------------------------------------------
        alertmanager, am_url = start_alertmanager(
            alertmanager_config_for_test(tmp_path, webhook.url), tmp_path, tmp_path)
        children.append(alertmanager)
        prom_port = free_port()
        prometheus = Child("prometheus", [
            binary("prometheus"),
            "--config.file=" + str(_prometheus_config(
                tmp_path, f"127.0.0.1:{exporter_port}", am_url.split("//")[1])),
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--rules.alert.resend-delay=1s",
        ], tmp_path)
        children.append(prometheus)
        prom = f"http://127.0.0.1:{prom_port}"
        wait_http(f"{prom}/-/ready", prometheus)

        def query(expr: str) -> list[dict]:
            url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            answer = http_json(url)
            assert answer["status"] == "success", answer
            return answer["data"]["result"]

        def logs() -> str:
            return "\n".join(child.log() for child in children)

        wait_until(lambda: query("sum(bambu_printer_up)") and
                   float(query("sum(bambu_printer_up)")[0]["value"][1]) == len(MODELS),
                   60, interval=0.5, what=f"all printers up in Prometheus\n{logs()}")

        rules = http_json(f"{prom}/api/v1/rules")["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {
            "BambuPrinterOffline", "BambuPrintFailed"}

        # -- a running job's plan (its 3MF over FTPS); then its spools run low ----------------
        runner = printers[0]
        plate = runner.job_plate
        assert plate is not None
        plan_query = f'bambu_printer_job_filament_planned_grams{{serial="{runner.serial}"}}'
        wait_until(lambda: len(query(plan_query)) == len(plate.filaments), 60, interval=0.5,
                   what=f"the running job's plan in Prometheus\n{logs()}")
        low = runner.report()["print"]["ams"]
        for unit in low["ams"]:
            for spool in unit["tray"]:
                if spool.get("tray_type"):
                    spool.update(remain=0, tray_weight="1000")
        runner.update({"print": {"ams": low}})

        # -- faults: one printer goes offline, one fails its print -------------------------
        printers[3].inject(Fault.OFFLINE)
        printers[4].inject(Fault.FAIL_PRINT)

        def delivered() -> dict[tuple[str, str], dict]:
            return {(a["labels"]["alertname"], a["labels"].get("printer", "")): a
                    for a in webhook.alerts()}

        wait_until(lambda: {("BambuPrinterOffline", names["offline"]),
                            ("BambuPrintFailed", names["fail"]),
                            ("BambuSpoolRunsOutBeforeJobEnds", runner.record.name)}
                   <= set(delivered()),
                   90, interval=1.0,
                   what=f"offline and failed alerts at the webhook; got {sorted(delivered())}\n"
                           f"firing in Prometheus: {query('ALERTS')}\n{logs()}")

        alerts = delivered()
        runway = alerts[("BambuSpoolRunsOutBeforeJobEnds", runner.record.name)]
        assert runway["labels"]["serial"] == runner.serial and runway["labels"]["ams"].isdigit()
        assert "more from AMS" in runway["annotations"]["description"]
        offline = alerts[("BambuPrinterOffline", names["offline"])]
        record = printers[3].record
        assert offline["labels"]["serial"] == record.serial
        assert offline["labels"]["ip"] == record.ip
        assert offline["labels"]["severity"] == "warning"
        assert offline["labels"]["job"] == "bambu"
        assert names["offline"] in offline["annotations"]["description"]
        assert offline["annotations"]["runbook"] == "docs/runbook.md#printer-offline"
        # The reason in words. The printer's session was cut when it went away (one
        # `dropped`), and each retry since is `refused` (nothing listens there): with `for:`
        # compressed to 2 s the alert can fire while the two counts are still level, so
        # either is the truth at that moment; the words must match the one it names.
        reason = offline["annotations"]["reason"]
        assert reason in ("refused", "dropped"), reason
        words = {"refused": "refuses the connection", "dropped": "keeps dropping the session"}
        assert words[reason] in offline["annotations"]["description"]

        failed = alerts[("BambuPrintFailed", names["fail"])]
        assert failed["labels"]["serial"] == printers[4].record.serial
        assert names["fail"] in failed["annotations"]["summary"]
        assert failed["annotations"]["runbook"] == "docs/runbook.md#print-failed"
        # the HMS message the failure came with, linked to its page on Bambu's wiki
        failure = printers[4].report()["print"]["hms"][0]
        code = "_".join(f"{part:04X}" for part in (
            failure["attr"] >> 16, failure["attr"] & 0xFFFF, failure["code"] >> 16,
            failure["code"] & 0xFFFF))
        # the model family's section of the wiki; the HMS index for models without one
        family = {"X1C": "x1", "H2D": "h2d", "A1": "a1", "H2C": "h2c", "P2S": "p2s"}.get(
            printers[4].record.model)
        wiki = (f"https://wiki.bambulab.com/en/{family}/troubleshooting/hmscode/{code}"
                if family else "https://wiki.bambulab.com/en/hms/home")
        assert wiki in failed["annotations"]["description"]
        assert failed["annotations"]["wiki_url"] == wiki
        # ... and in words, from the text table the exporter loaded (--hms.text-file)
        texts = json.loads(HMS_TEXTS.read_text())["data"]
        hms_text = {e["ecode"]: e["intro"] for e in texts["device_hms"]["en"]}
        error_text = {e["ecode"]: e["intro"] for e in texts["device_error"]["en"]}
        assert hms_text[code.replace("_", "")] in failed["annotations"]["description"]
        print_error = printers[4].report()["print"]["print_error"]
        assert error_text[f"{print_error:08X}"] in failed["annotations"]["description"]

        # The idle printer raised nothing; the offline one nothing but offline (inhibited).
        assert not [key for key in alerts if key[1] == names["idle"]]
        assert [key for key in alerts if key[1] == names["offline"]] == [
            ("BambuPrinterOffline", names["offline"])]
        # One notification per printer. (Exporter-level alerts have no printer label; with
        # `for:` compressed to 2s, BambuExporterAbsent may fire for an instant before the
        # first scrape, so they are left out here.)
        for notification in webhook.notifications:
            if any("printer" in a["labels"] for a in notification["alerts"]):
                assert list(notification["groupLabels"]) == ["printer"], notification
                assert len({a["labels"]["printer"] for a in notification["alerts"]}) == 1

        # -- every dashboard query returns data -------------------------------------------
        dash = dashboard()
        job_values = _label_values(prom, "job", "bambu_exporter_build_info")
        assert job_values == ["bambu"]
        printer_values = _label_values(prom, "printer", 'bambu_printer_up{job=~"(bambu)"}')
        assert printer_values == sorted(p.record.name for p in printers)
        variables = {
            "datasource": "prometheus", "job": "(bambu)",
            "printer": "(" + "|".join(printer_values) + ")",  # Grafana's "All", regex-joined
            "__rate_interval": "20s", "__interval": "2s", "__range": "5m", "__range_s": "300",
        }
        empty = []
        for panel, target in panel_targets(dash):
            expr = expand(target["expr"], variables)
            if not query(expr):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
        assert not empty, "dashboard queries without data:\n" + "\n".join(empty)

        # The state timeline shows the faults as the dashboard maps them (6 = FAILED, 8 = OFFLINE).
        timeline = next(t for p, t in panel_targets(dash) if p["type"] == "state-timeline")
        states = {r["metric"]["printer"]: r["value"][1] for r in query(expand(timeline["expr"], variables))}
        assert states[names["offline"]] == "8" and states[names["fail"]] == "6"
        assert states[names["idle"]] == "1" and states[names["running"]] == "3"
    finally:
        for child in reversed(children):
            child.stop()
        fleet.stop()
        webhook.close()


def _label_values(prom: str, label: str, match: str) -> list[str]:
    url = f"{prom}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": match})
    return sorted(http_json(url)["data"])


def _base_env() -> dict[str, str]:
    import os
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "PG", "BAMBU_", "DATABASE_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env
