"""The Grafana dashboard and provisioning: lint, and every query parsed by promtool."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.monitoring.stack import (
    DASHBOARD,
    DATASOURCE_REF,
    ROOT,
    all_panels,
    binary,
    dashboard,
    expand,
    exporter_metric_names,
    load_yaml,
    metric_names_in,
    panel_targets,
    run,
)

pytestmark = pytest.mark.tier("unit")

# What Grafana substitutes, with plausible values: the checks only need valid PromQL.
SAMPLE_VARIABLES = {
    "datasource": "prometheus", "job": "(bambu)", "printer": "(p1s-001|x1c-001)",
    "__rate_interval": "1m", "__interval": "15s", "__range": "6h", "__range_s": "21600",
}


def test_dashboard_identity() -> None:
    dash = dashboard()
    assert dash["uid"] == "bambu-fleet"
    assert dash["title"]
    assert "__inputs" not in dash and "${DS_" not in DASHBOARD.read_text()
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36


def test_variables_datasource_job_printer() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "printer"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name, metric in (("job", "bambu_exporter_build_info"), ("printer", "bambu_printer_up")):
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"] == DATASOURCE_REF
        assert var["query"]["query"].startswith(f"label_values({metric}")
        assert var["query"]["query"].endswith(f", {name})")
        assert var["includeAll"] and var["multi"]
    assert '$job' in variables["printer"]["query"]["query"]


def test_every_panel_has_title_unit_description_and_the_datasource_variable() -> None:
    dash = dashboard()
    for panel in all_panels(dash):
        assert panel["title"].strip(), panel["id"]
        if panel["type"] == "row":
            continue
        where = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == DATASOURCE_REF, where
        assert len(panel.get("description", "")) > 20, where
        assert panel["fieldConfig"]["defaults"].get("unit"), where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REF, where
            assert target["expr"].strip(), where


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    panels = list(all_panels(dashboard()))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_the_panels_the_issue_asks_for_exist() -> None:
    panels = list(all_panels(dashboard()))
    by_type: dict[str, list[dict]] = {}
    for panel in panels:
        by_type.setdefault(panel["type"], []).append(panel)
    assert len(by_type["state-timeline"]) == 1
    timeline = by_type["state-timeline"][0]
    texts = {m["text"] for mapping in timeline["fieldConfig"]["defaults"]["mappings"]
             for m in mapping["options"].values()}
    assert texts == {"IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED", "UNKNOWN", "OFFLINE"}

    fleet_table = next(p for p in by_type["table"] if p["title"] == "Fleet")
    assert [t["id"] for t in fleet_table["transformations"]] == ["merge", "organize"]
    shown = {o["properties"][0]["value"] for o in fleet_table["fieldConfig"]["overrides"]}
    assert {"Printer", "Model", "State", "Progress", "Remaining", "Job", "Nozzle", "Bed",
            "Wi-Fi"} <= shown

    rows = [p for p in panels if p["type"] == "row"]
    assert any(r.get("repeat") == "printer" for r in rows), "a per-printer row repeated by $printer"
    queries = " ".join(t["expr"] for _, t in panel_targets(dashboard()))
    # the newer printers' data
    by_title = {p["title"]: p for p in panels}
    soon = by_title["Finishing soon"]
    soon_columns = {o["properties"][0]["value"] for o in soon["fieldConfig"]["overrides"]}
    assert {"Printer", "Time left", "Estimated end", "Job", "Progress"} <= soon_columns
    assert [t["id"] for t in soon["transformations"]] == ["merge", "organize", "sortBy"]
    assert "count by (model)" in by_title["Fleet by model"]["targets"][0]["expr"]
    for title in ("Active HMS messages in the fleet", "Active HMS messages"):
        table = by_title[title]
        names = {o["matcher"]["options"]: o for o in table["fieldConfig"]["overrides"]}
        assert "description" in names, title
        links = [p["value"] for p in names["code"]["properties"] if p["id"] == "links"]
        assert links and links[0][0]["url"].startswith(
            "https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/${__value.text}"), title
    assert 'sensor=~"nozzle.*"' in by_title["Nozzles"]["targets"][0]["expr"]
    ams = by_title["AMS units"]
    assert {o["properties"][0]["value"] for o in ams["fieldConfig"]["overrides"]} >= {
        "Model", "Drying", "Humidity level", "Temperature"}
    for metric in ("bambu_printer_door_open", "bambu_printer_light_on", "bambu_ams_info",
                   "bambu_ams_drying", "bambu_printer_active_extruder",
                   "bambu_printer_print_error_info", "bambu_printer_print_start_timestamp_seconds"):
        assert metric in queries, metric
    for metric in ("bambu_printer_temperature_celsius", "bambu_printer_target_temperature_celsius",
                   "bambu_printer_print_progress_ratio", "bambu_printer_print_layer",
                   "bambu_printer_fan_speed_ratio", "bambu_ams_humidity_index",
                   "bambu_ams_temperature_celsius", "bambu_ams_tray_remaining_ratio",
                   "bambu_ams_tray_info", "bambu_printer_hms_error_info",
                   "bambu_printer_connection_errors_total", "bambu_printer_message_errors_total",
                   "bambu_printer_prints_total"):
        assert metric in queries, metric


def test_queries_only_use_metrics_the_exporter_exposes() -> None:
    known = exporter_metric_names()
    unknown = {f"{panel['title']} [{target['refId']}]": sorted(missing)
               for panel, target in panel_targets(dashboard())
               if (missing := metric_names_in(target["expr"]) - known)}
    assert unknown == {}, "panels naming metrics the exporter's catalogue lacks"
    for var in dashboard()["templating"]["list"][1:]:
        assert metric_names_in(var["query"]["query"]) - known == set()


def test_every_query_filters_on_job_and_printer_variables() -> None:
    for panel, target in panel_targets(dashboard()):
        expr = target["expr"]
        for selector in ("bambu_printer_", "bambu_ams_"):
            if selector in expr:
                assert 'printer=~"$printer"' in expr and 'job=~"$job"' in expr, panel["title"]
        if "bambu_" in expr:
            assert 'job=~"$job"' in expr, panel["title"]


@pytest.mark.tier("e2e")
def test_promtool_parses_every_query_with_variables_filled_in(tmp_path) -> None:
    """promtool check rules parses each expression (as a recording rule)."""
    rules = [{"record": f"dashboard:panel{panel['id']}:{target['refId']}",
              "expr": expand(target["expr"], SAMPLE_VARIABLES)}
             for panel, target in panel_targets(dashboard())]
    for var in dashboard()["templating"]["list"][1:]:
        # label_values(expr, label) is Grafana's; the selector inside is PromQL.
        inner = var["query"]["query"][len("label_values("):].rsplit(",", 1)[0]
        rules.append({"record": f"dashboard:variable:{var['name']}",
                      "expr": expand(inner, SAMPLE_VARIABLES)})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_provisioning_points_grafana_at_prometheus_and_the_dashboard_folder() -> None:
    datasources = load_yaml(ROOT / "grafana/provisioning/datasources/prometheus.yml")
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    providers = load_yaml(ROOT / "grafana/provisioning/dashboards/bambu.yml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/bambu"


def test_dashboard_json_is_formatted_consistently() -> None:
    text = DASHBOARD.read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"


@pytest.mark.tier("e2e")
def test_fleet_panels_count_each_printer_once_across_exporters(tmp_path) -> None:
    """Shards are N Prometheus targets: fleet panels sum across them, and a printer that
    two exporters show at once (while it moves between shards) still counts once. The
    dashboard's own queries run on that data in promtool."""
    by_title = {p["title"]: p for p in all_panels(dashboard())}
    variables = {**SAMPLE_VARIABLES, "printer": "(a|b|c)"}

    def series(name: str, instance: str, printer: str, value: int, **labels: str) -> dict:
        extra = "".join(f', {k}="{v}"' for k, v in labels.items())
        serial = {"a": "00M0", "b": "01P0", "c": "0940"}[printer]
        return {"series": f'{name}{{job="bambu", instance="{instance}", printer="{printer}", '
                          f'serial="{serial}"{extra}}}', "values": f"{value}x10"}

    inputs = [
        {"series": 'bambu_inventory_printers{job="bambu", instance="exporter-0:9851"}',
         "values": "2x10"},
        {"series": 'bambu_inventory_printers{job="bambu", instance="exporter-1:9851"}',
         "values": "1x10"},
        {"series": 'bambu_inventory_up{job="bambu", instance="exporter-0:9851"}', "values": "1x10"},
        {"series": 'bambu_inventory_up{job="bambu", instance="exporter-1:9851"}', "values": "0x10"},
    ]
    # a on exporter-0; b on both (moving from 0 to 1); c on exporter-1, offline
    for instance, printer, up, state, model in (
            ("exporter-0:9851", "a", 1, "RUNNING", "X1C"), ("exporter-0:9851", "b", 1, "RUNNING", "P1S"),
            ("exporter-1:9851", "b", 1, "RUNNING", "P1S"), ("exporter-1:9851", "c", 0, "OFFLINE", "H2D")):
        inputs += [series("bambu_printer_up", instance, printer, up),
                   series("bambu_printer_info", instance, printer, 1, model=model, ip="10.0.0.1",
                          firmware="1"),
                   series("bambu_printer_state", instance, printer, 1, state=state),
                   series("bambu_printer_hms_errors", instance, printer, int(printer == "b"),
                          severity="fatal"),
                   series("bambu_printer_door_open", instance, printer, int(printer == "b"))]
    expected = {  # panel title -> {labels: value}
        "Printers": {"{}": 3}, "Up": {"{}": 2}, "Printing": {"{}": 2}, "Offline": {"{}": 1},
        "HMS errors": {"{}": 1}, "Printer list": {"{}": 0},
        "Printers by state": {'{state="RUNNING"}': 2, '{state="OFFLINE"}': 1},
        "Fleet by model": {'{model="X1C"}': 1, '{model="P1S"}': 1, '{model="H2D"}': 1},
    }
    checks = []
    for title, samples in expected.items():
        expr = expand(by_title[title]["targets"][0]["expr"], variables)
        checks.append({"expr": expr, "eval_time": "5m",
                       "exp_samples": [{"labels": k, "value": v} for k, v in samples.items()]})
    utilisation = expand(by_title["Fleet utilisation"]["targets"][1]["expr"], variables)
    checks.append({"expr": f"round({utilisation} * 3)", "eval_time": "5m",
                   "exp_samples": [{"labels": "{}", "value": 2}]})  # 2 of 3 up
    doors = expand(by_title["Doors, lights, drying"]["targets"][0]["expr"], variables)
    checks.append({"expr": doors, "eval_time": "5m",
                   "exp_samples": [{"labels": "{}", "value": 1}]})
    (tmp_path / "empty.yml").write_text("groups: []\n")
    (tmp_path / "fleet.test.yml").write_text(yaml.safe_dump({
        "rule_files": ["empty.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": checks}]}))
    result = run(binary("promtool"), "test", "rules", "fleet.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # ... and the same data summed naively would have counted b twice
    naive = [dict(c, expr=c["expr"].replace("max by (printer, serial) ", "")) for c in checks[1:2]]
    (tmp_path / "naive.test.yml").write_text(yaml.safe_dump({
        "rule_files": ["empty.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": naive}]}))
    assert run(binary("promtool"), "test", "rules", "naive.test.yml", cwd=tmp_path).returncode != 0


def test_opens_on_the_fleet_attention_first_printer_rows_collapsed() -> None:
    dash = dashboard()
    top = [p for p in dash["panels"] if p["type"] != "row"]
    first = min(top, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert first["title"] == "Needs attention" and first["type"] == "table"
    # the per-printer rows start collapsed, their panels inside them
    (printer_row,) = [p for p in dash["panels"] if p.get("repeat") == "printer"]
    assert printer_row["collapsed"] is True and len(printer_row["panels"]) > 10
    assert all(p["type"] == "row" or p["gridPos"]["y"] < printer_row["gridPos"]["y"]
               for p in dash["panels"] if p is not printer_row)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["printer"]["current"]["value"] == ["$__all"]
    # the landing page's order: the urgency query ranks in the same order as attention.py
    urgency = first["targets"][0]["expr"]
    order = [urgency.index(part) for part in (
        'severity="fatal"', 'state="FAILED"', 'state="OFFLINE"', 'severity="serious"',
        'state="PAUSE"', 'state="abnormal"', 'severity=~"common|unknown"', 'severity="info"')]
    assert order == sorted(order)
    assert [t["id"] for t in first["transformations"]] == [
        "merge", "filterByValue", "sortBy", "organize"]


def test_fleet_table_has_hms_and_error_columns_and_health_panels_exist() -> None:
    by_title = {p["title"]: p for p in all_panels(dashboard())}
    fleet = next(p for p in all_panels(dashboard())
                 if p["title"] == "Fleet" and p["type"] == "table")
    shown = {o["properties"][0]["value"] for o in fleet["fieldConfig"]["overrides"]}
    assert {"HMS", "Error"} <= shown
    queries = " ".join(t["expr"] for _, t in panel_targets(dashboard()))
    for metric in ("bambu_printer_firmware_update_available", "bambu_printer_firmware_update_info",
                   "bambu_printer_sdcard_state", "bambu_printer_camera_recording",
                   "bambu_printer_filament_tangle_detected", "bambu_printer_network_info"):
        assert metric in queries, metric
    health = by_title["Printer health"]
    assert {o["properties"][0]["value"] for o in health["fieldConfig"]["overrides"]} >= {
        "SD card", "Camera recording", "Tangle", "Network", "Update on offer"}


def test_no_link_to_a_repository_that_does_not_exist() -> None:
    # what to do for each alert is in docs/runbook.md of this project; where it is
    # served is the user's to say
    assert "github.com" not in DASHBOARD.read_text()


def test_the_jobs_and_utilisation_row() -> None:
    """Its own row, after the fleet's panels and before the per-printer rows, with what
    a farm asks of its jobs; every query is also run live by test_stack_e2e.py."""
    panels = list(all_panels(dashboard()))
    rows = [p for p in panels if p["type"] == "row"]
    titles = [r["title"] for r in rows]
    assert titles.index("Jobs and utilisation") < titles.index("Printer $printer")
    row = next(r for r in rows if r["title"] == "Jobs and utilisation")
    below = [p for p in panels if p["type"] != "row"
             and row["gridPos"]["y"] < p["gridPos"]["y"] < min(
                 r["gridPos"]["y"] for r in rows if r["gridPos"]["y"] > row["gridPos"]["y"])]
    by_title = {p["title"]: p for p in below}
    assert set(by_title) == {
        "Jobs per hour by result", "Success ratio by printer (worst first)",
        "Success ratio by model (worst first)", "Hours lost in failed and cancelled jobs",
        "Utilisation by printer", "Fleet time by state", "Plates waiting"}
    expr = {title: " ".join(t["expr"] for t in p["targets"]) for title, p in by_title.items()}
    assert "bambu_printer_prints_total" in expr["Jobs per hour by result"]
    for title in ("Success ratio by printer (worst first)", "Success ratio by model (worst first)"):
        assert expr[title].startswith("sort(") and 'result="finished"' in expr[title]
    assert "group_left (model)" in expr["Success ratio by model (worst first)"]
    assert 'result=~"failed|cancelled"' in expr["Hours lost in failed and cancelled jobs"]
    assert "bambu_printer_print_seconds_total" in expr["Hours lost in failed and cancelled jobs"]
    assert 'state="printing"' in expr["Utilisation by printer"]
    assert "sum by (state)" in expr["Fleet time by state"]
    assert "bambu_printer_state_since_timestamp_seconds" in expr["Plates waiting"]
    assert 'state=~"FINISH|FAILED"' in expr["Plates waiting"]


def test_the_filament_row_follows_the_jobs_row() -> None:
    """Filament: grams per day by material and printer, cost per day, planned against actual
    time, the runway table, fetch failures; every query also runs live in test_stack_e2e."""
    panels = list(all_panels(dashboard()))
    rows = sorted((p for p in panels if p["type"] == "row"), key=lambda r: r["gridPos"]["y"])
    titles = [r["title"] for r in rows]
    assert titles.index("Jobs and utilisation") + 1 == titles.index("Filament")
    assert titles.index("Filament") + 1 == titles.index("Printer $printer")
    top, bottom = (rows[titles.index(t)]["gridPos"]["y"] for t in ("Filament", "Printer $printer"))
    below = {p["title"]: p for p in panels if p["type"] != "row" and top < p["gridPos"]["y"] < bottom}
    assert set(below) == {"Filament per day by material", "Filament per day by printer",
                          "Filament cost per day", "Planned against actual time", "Spool runway",
                          "Job file fetches failed"}
    queries = " ".join(t["expr"] for p in below.values() for t in p["targets"])
    for metric in ("bambu_filament_used_grams_total", "bambu_filament_cost_total",
                   "bambu_printer_job_predicted_seconds", "bambu_printer_job_filament_runway_grams",
                   "bambu_printer_job_filament_needed_grams", "bambu_printer_job_fetch_errors_total"):
        assert metric in queries, metric
