"""The Grafana dashboard and provisioning: lint, and every query parsed by promtool."""

from __future__ import annotations

import json

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
    for panel, target in panel_targets(dashboard()):
        assert metric_names_in(target["expr"]) - known == set(), (panel["title"], target["expr"])
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
