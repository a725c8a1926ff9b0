"""Pure: printer statuses -> Prometheus metric families (the metric catalogue).

One table, CATALOGUE, names every family once; `describe()` and every scrape build
from it, so the exposition always carries the same names, types and help texts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.job_file.plan import FETCH_REASONS
from exporter.printer.job_file.runway import runway
from exporter.printer.offline_reason import COUNTED_REASONS
from exporter.printer.sanitize import MESSAGE_ERROR_REASONS
from exporter.printer.snapshot import PrinterSnapshot
from exporter.printer.status import (
    JOB_RESULTS,
    OFFLINE,
    STATE_LABELS,
    PrinterStatus,
)
from exporter.printer.vocabulary import GCODE_STATES, NETWORK_LINKS, SDCARD_STATES
from exporter.printer.words import stage_words

PRINTER_LABELS = ("printer", "serial")
STATES: tuple[str, ...] = (*GCODE_STATES, OFFLINE)
HMS_SEVERITY_LABELS: tuple[str, ...] = ("fatal", "serious", "common", "info", "unknown")


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str                      # "gauge" | "counter"
    help: str
    labels: tuple[str, ...] = ()   # after printer, serial for per-printer families
    per_printer: bool = True

    @property
    def label_names(self) -> tuple[str, ...]:
        return (*PRINTER_LABELS, *self.labels) if self.per_printer else self.labels


CATALOGUE: tuple[Spec, ...] = (
    Spec("bambu_printer_up", "gauge",
         "1 if the MQTT session is connected and a report arrived within the staleness window."),
    Spec("bambu_printer_info", "gauge", "Printer identity; always 1.", ("ip", "model", "firmware")),
    Spec("bambu_printer_state", "gauge",
         "1 for the printer's current gcode state (OFFLINE when not up), 0 for the others.",
         ("state",)),
    Spec("bambu_printer_stage_info", "gauge",
         "Current print stage (stg_cur), and in words; always 1.", ("stage", "description")),
    Spec("bambu_printer_last_report_timestamp_seconds", "gauge",
         "Unix time of the last message received from the printer."),
    Spec("bambu_printer_temperature_celsius", "gauge", "Measured temperature.", ("sensor",)),
    Spec("bambu_printer_target_temperature_celsius", "gauge", "Target temperature.",
         ("sensor",)),
    Spec("bambu_printer_fan_speed_ratio", "gauge", "Fan speed, 0..1.", ("fan",)),
    Spec("bambu_printer_print_progress_ratio", "gauge", "Print progress, 0..1."),
    Spec("bambu_printer_print_remaining_seconds", "gauge", "Estimated time left in the job."),
    Spec("bambu_printer_print_layer", "gauge", "Current layer."),
    Spec("bambu_printer_print_layers", "gauge", "Layers in the job."),
    Spec("bambu_printer_print_speed_ratio", "gauge", "Speed magnitude; 1 = 100 %."),
    Spec("bambu_printer_print_job_info", "gauge", "Current or last job; always 1.",
         ("file", "task")),
    Spec("bambu_printer_print_error_code", "gauge", "The printer's print_error; 0 = none."),
    Spec("bambu_printer_print_error_info", "gauge",
         "The current print error as XXXX_XXXX, with its text where one is loaded; always 1.",
         ("code", "description")),
    Spec("bambu_printer_hms_errors", "gauge", "Active HMS messages by severity.", ("severity",)),
    Spec("bambu_printer_hms_error_info", "gauge", "One series per active HMS message; always 1.",
         ("code", "severity", "module", "description")),
    Spec("bambu_printer_wifi_signal_dbm", "gauge", "Wi-Fi signal strength."),
    Spec("bambu_printer_nozzle_info", "gauge", "Installed nozzle; always 1.",
         ("nozzle", "type", "diameter", "material", "flow")),
    Spec("bambu_printer_rack_hotend_info", "gauge",
         "A hotend parked in the printer's rack (H2C), not mounted; always 1.",
         ("hotend", "type", "diameter", "material", "flow")),
    Spec("bambu_printer_door_open", "gauge", "1 while the enclosure door is open."),
    Spec("bambu_printer_light_on", "gauge", "1 while the light is on.", ("light",)),
    Spec("bambu_printer_active_extruder", "gauge",
         "Dual-nozzle printers: the nozzle in use, 0 right, 1 left."),
    Spec("bambu_printer_print_start_timestamp_seconds", "gauge",
         "Unix time the current or last job started."),
    Spec("bambu_printer_firmware_update_available", "gauge",
         "1 while the printer offers a firmware update."),
    Spec("bambu_printer_firmware_update_info", "gauge",
         "The firmware version the printer offers to install; always 1.", ("version",)),
    Spec("bambu_printer_sdcard_state", "gauge",
         "1 for the SD card's state (absent, present, abnormal), 0 for the others.",
         ("state",)),
    Spec("bambu_printer_camera_recording", "gauge", "1 while the camera records."),
    Spec("bambu_printer_filament_tangle_detected", "gauge",
         "1 while the printer reports a filament tangle."),
    Spec("bambu_printer_network_info", "gauge",
         "How the printer is connected: link wired or wifi; always 1.", ("link",)),
    Spec("bambu_ams_humidity_index", "gauge",
         "AMS humidity on Bambu Studio's scale: 1 dry .. 5 wet.", ("ams",)),
    Spec("bambu_ams_humidity_ratio", "gauge", "AMS relative humidity, 0..1.", ("ams",)),
    Spec("bambu_ams_temperature_celsius", "gauge", "AMS temperature.", ("ams",)),
    Spec("bambu_ams_info", "gauge", "AMS unit model; always 1.", ("ams", "model")),
    Spec("bambu_ams_drying", "gauge", "1 while the AMS unit dries filament.", ("ams",)),
    Spec("bambu_ams_tray_remaining_ratio", "gauge",
         "Filament left on the spool, 0..1 (only where the printer knows).", ("ams", "tray")),
    Spec("bambu_ams_tray_info", "gauge", "Loaded filament; always 1.",
         ("ams", "tray", "material", "color")),
    Spec("bambu_printer_connects_total", "counter", "MQTT sessions established."),
    Spec("bambu_printer_connection_errors_total", "counter",
         "Failed or lost MQTT sessions by reason: refused, auth, timeout, dropped, "
         "unreachable, protocol, silent, certificate, local.",
         ("reason",)),
    Spec("bambu_printer_message_errors_total", "counter",
         "Messages from the printer not used, by reason: json, not_object, too_large, "
         "too_deep, bad_utf8.", ("reason",)),
    Spec("bambu_printer_report_truncations_total", "counter",
         "Values cut from the printer's reports to keep within the exporter's bounds, by "
         "bound: text, hms, ams, tray, list, report (only bounds that cut something).",
         ("bound",)),
    Spec("bambu_printer_prints_total", "counter",
         "Jobs seen ending, by result: finished, failed, cancelled.", ("result",)),
    Spec("bambu_printer_printing_seconds_total", "counter",
         "Time this exporter saw the printer RUNNING (utilisation: its rate)."),
    Spec("bambu_printer_print_seconds_total", "counter",
         "Seconds from start to end of the jobs seen ending, by result.", ("result",)),
    Spec("bambu_printer_state_seconds_total", "counter",
         "Time this exporter saw the printer in each state: printing, paused, preparing, "
         "plate_waiting (FINISH or FAILED, not yet cleared), idle, offline.", ("state",)),
    Spec("bambu_printer_state_since_timestamp_seconds", "gauge",
         "Unix time the printer entered its current state (as bambu_printer_state_seconds_total "
         "names them), as first seen."),
    # Filament: the current job's plan from its 3MF (over FTPS), and what jobs used.
    Spec("bambu_printer_job_filament_planned_grams", "gauge",
         "Grams of each slicer filament the current job's plate uses (its 3MF), with the "
         "tray that feeds it (ams and tray empty when not known).",
         ("slot", "ams", "tray", "material", "color")),
    Spec("bambu_printer_job_filament_planned_meters", "gauge",
         "Metres of each slicer filament the current job's plate uses.",
         ("slot", "ams", "tray", "material", "color")),
    Spec("bambu_printer_job_planned_weight_grams", "gauge",
         "The current job's plate weight as sliced."),
    Spec("bambu_printer_job_predicted_seconds", "gauge",
         "The current job's printing time as the slicer predicted it."),
    Spec("bambu_printer_job_filament_needed_grams", "gauge",
         "Grams the current job still needs from each tray (its plan less the progress made).",
         ("ams", "tray")),
    Spec("bambu_printer_job_filament_runway_grams", "gauge",
         "Grams left on each tray the current job uses less the grams it still needs; below "
         "0 the spool runs out before the job ends (only where the printer knows what is left).",
         ("ams", "tray")),
    Spec("bambu_filament_used_grams_total", "counter",
         "Grams of filament used by jobs that ended, by material (failed and cancelled jobs "
         "scaled by how far they got).", ("material",)),
    Spec("bambu_filament_used_meters_total", "counter",
         "Metres of filament used by jobs that ended, by material.", ("material",)),
    Spec("bambu_filament_cost_total", "counter",
         "Cost of the filament used by jobs that ended, by material, at the --filament.prices "
         "price in force when each job ended.", ("material", "currency")),
    Spec("bambu_printer_job_fetch_errors_total", "counter",
         "Jobs whose plan could not be read from the printer's FTPS, by reason: no_file, "
         "no_storage, refused, tls, timeout, too_large, bad_file.", ("reason",)),
    Spec("bambu_printer_job_filament_mapping_errors_total", "counter",
         "Filament-to-tray mapping entries naming a tray the printer does not have (ignored)."),
    Spec("bambu_inventory_up", "gauge", "1 if the last read of the printer list succeeded.",
         per_printer=False),
    Spec("bambu_inventory_printers", "gauge", "Printers in the list in use.", per_printer=False),
    Spec("bambu_inventory_errors_total", "counter", "Failed reads of the printer list.",
         per_printer=False),
    Spec("bambu_inventory_rejected_rows_total", "counter",
         "Bad rows that appeared in the printer list (each counted once), by reason.",
         ("reason",),
         per_printer=False),
    Spec("bambu_exporter_build_info", "gauge", "Exporter build; always 1.",
         ("version", "revision", "bambulabs_api_version"), per_printer=False),
    Spec("bambu_exporter_collect_duration_seconds", "gauge",
         "Time this scrape spent collecting.", per_printer=False),
    Spec("bambu_exporter_collect_errors_total", "counter",
         "Printers whose metrics could not be built in a scrape (left out of it).",
         per_printer=False),
    Spec("bambu_exporter_shard_info", "gauge",
         "This exporter's slice of the printer list: shard index (from 0) of count; always 1.",
         ("index", "count"), per_printer=False),
    Spec("bambu_exporter_shards", "gauge",
         "Shards the printer list is split into (--shard.count), as a number to compare "
         "with the shards running.", per_printer=False),
    Spec("bambu_exporter_hms_text_rejected_entries_total", "counter",
         "Entries of the HMS text file (--hms.text-file) skipped as invalid.",
         per_printer=False),
    Spec("bambu_exporter_worker_restarts_total", "counter",
         "Worker processes restarted after dying or hanging (--workers).", per_printer=False),
)


@dataclass(frozen=True)
class InventoryStatus:
    up: bool
    printers: int
    errors: int
    rejected: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExporterStatus:
    version: str
    bambulabs_api_version: str
    collect_errors: int
    collect_duration: float
    shard_index: int = 0
    shard_count: int = 1
    hms_text_rejected: int = 0
    worker_restarts: int = 0
    revision: str = "unknown"


Sample = tuple[str, tuple[str, ...], float]   # (family name, label values, value)
Describe = Callable[[str], str]   # an HMS or print error code -> its text, "" when unknown


def no_text(_code: str) -> str:
    return ""


def printer_samples(status: PrinterStatus, describe: Describe = no_text) -> list[Sample]:
    """Every sample one printer contributes. A printer that is not up gets no telemetry."""
    ident = (status.name, status.serial)
    out: list[Sample] = []

    def add(name: str, value: float, *labels: str) -> None:
        out.append((name, (*ident, *labels), float(value)))

    add("bambu_printer_up", 1 if status.up else 0)
    add("bambu_printer_info", 1, status.ip, status.model, status.firmware)
    snap = status.snapshot if status.up else None
    current = status.state
    for state in STATES:
        add("bambu_printer_state", 1 if state == current else 0, state)
    if status.last_report is not None:
        add("bambu_printer_last_report_timestamp_seconds", status.last_report)
    add("bambu_printer_connects_total", status.connects)
    for counted in COUNTED_REASONS:
        add("bambu_printer_connection_errors_total",
            status.connection_errors.get(counted, 0), counted.label)
    for reason in MESSAGE_ERROR_REASONS:
        add("bambu_printer_message_errors_total", status.message_errors.get(reason, 0), reason)
    for bound, count in sorted(status.truncations.items()):
        add("bambu_printer_report_truncations_total", count, bound)
    for result in JOB_RESULTS:
        add("bambu_printer_prints_total", status.prints.get(result, 0), result)
    add("bambu_printer_printing_seconds_total", status.printing_seconds)
    for result in JOB_RESULTS:
        add("bambu_printer_print_seconds_total", status.print_seconds.get(result, 0.0), result)
    for state in STATE_LABELS:
        add("bambu_printer_state_seconds_total", status.state_seconds.get(state, 0.0), state)
    if status.state_since is not None:
        add("bambu_printer_state_since_timestamp_seconds", status.state_since)
    if status.filament is not None:
        _filament_samples(status.filament, snap, add)
    if snap is None:
        return out

    if snap.stage is not None:
        add("bambu_printer_stage_info", 1, snap.stage, stage_words(snap.stage))
    for sensor, value in snap.temperatures:
        add("bambu_printer_temperature_celsius", value, sensor)
    for sensor, value in snap.targets:
        add("bambu_printer_target_temperature_celsius", value, sensor)
    for fan, value in snap.fans:
        add("bambu_printer_fan_speed_ratio", value, fan)
    optional: tuple[tuple[str, float | None], ...] = (
        ("bambu_printer_print_progress_ratio", snap.progress),
        ("bambu_printer_print_remaining_seconds", snap.remaining_seconds),
        ("bambu_printer_print_layer", snap.layer),
        ("bambu_printer_print_layers", snap.layers),
        ("bambu_printer_print_speed_ratio", snap.speed),
        ("bambu_printer_print_error_code", snap.print_error),
        ("bambu_printer_wifi_signal_dbm", snap.wifi_dbm),
        ("bambu_printer_active_extruder", snap.active_extruder),
        ("bambu_printer_print_start_timestamp_seconds", snap.print_start),
        ("bambu_printer_door_open", _flag(snap.door_open)),
        ("bambu_printer_firmware_update_available", _flag(snap.firmware_update)),
        ("bambu_printer_camera_recording", _flag(snap.camera_recording)),
        ("bambu_printer_filament_tangle_detected", _flag(snap.filament_tangle)),
    )
    for name, maybe in optional:
        if maybe is not None:
            add(name, maybe)
    if snap.job_file or snap.job_task:
        add("bambu_printer_print_job_info", 1, snap.job_file, snap.job_task)
    if snap.firmware_update and snap.firmware_new_version:
        add("bambu_printer_firmware_update_info", 1, snap.firmware_new_version)
    if snap.sdcard is not None:
        for card in SDCARD_STATES:
            add("bambu_printer_sdcard_state", 1 if card == snap.sdcard else 0, card)
    if snap.network_link in NETWORK_LINKS:
        add("bambu_printer_network_info", 1, snap.network_link)
    error_code = snap.print_error_code
    if error_code is not None:
        add("bambu_printer_print_error_info", 1, error_code, describe(error_code))
    for light, on in snap.lights:
        add("bambu_printer_light_on", 1 if on else 0, light)
    by_severity = {severity: 0 for severity in HMS_SEVERITY_LABELS}
    for message in snap.hms:
        by_severity[message.severity] = by_severity.get(message.severity, 0) + 1
        add("bambu_printer_hms_error_info", 1, message.code, message.severity, message.module,
            describe(message.code))
    for severity, count in by_severity.items():
        add("bambu_printer_hms_errors", count, severity)
    for nozzle in snap.nozzles:
        add("bambu_printer_nozzle_info", 1, nozzle.nozzle, nozzle.type, nozzle.diameter,
            nozzle.material, nozzle.flow)
    for hotend in snap.rack_hotends:
        add("bambu_printer_rack_hotend_info", 1, hotend.nozzle, hotend.type, hotend.diameter,
            hotend.material, hotend.flow)
    for unit in snap.ams:
        if unit.humidity_index is not None:
            add("bambu_ams_humidity_index", unit.humidity_index, unit.ams)
        if unit.humidity_ratio is not None:
            add("bambu_ams_humidity_ratio", unit.humidity_ratio, unit.ams)
        if unit.temperature is not None:
            add("bambu_ams_temperature_celsius", unit.temperature, unit.ams)
        if unit.model is not None:
            add("bambu_ams_info", 1, unit.ams, unit.model)
        if unit.drying is not None:
            add("bambu_ams_drying", 1 if unit.drying else 0, unit.ams)
    for tray in snap.trays:
        add("bambu_ams_tray_info", 1, tray.ams, tray.tray, tray.material, tray.color)
        if tray.remaining is not None:
            add("bambu_ams_tray_remaining_ratio", tray.remaining, tray.ams, tray.tray)
    return out


def _filament_samples(filament: FilamentStatus, snap: PrinterSnapshot | None,
                      add: Callable[..., None]) -> None:
    for reason in FETCH_REASONS:
        add("bambu_printer_job_fetch_errors_total", filament.fetch_errors.get(reason, 0), reason)
    add("bambu_printer_job_filament_mapping_errors_total", filament.mapping_errors)
    for material, grams in sorted(filament.used_grams.items()):
        add("bambu_filament_used_grams_total", grams, material)
    for material, meters in sorted(filament.used_meters.items()):
        add("bambu_filament_used_meters_total", meters, material)
    for (material, currency), cost in sorted(filament.cost.items()):
        add("bambu_filament_cost_total", cost, material, currency)
    plan = filament.plan
    if snap is None or plan is None or not filament.job_active:
        return   # a plan is news only while its job runs and the printer is up
    if plan.weight_grams is not None:
        add("bambu_printer_job_planned_weight_grams", plan.weight_grams)
    if plan.prediction_seconds is not None:
        add("bambu_printer_job_predicted_seconds", plan.prediction_seconds)
    for f, tray in filament.trays:
        where = (tray.ams, tray.tray) if tray is not None else ("", "")
        add("bambu_printer_job_filament_planned_grams", f.grams, str(f.slot), *where,
            f.material, f.color)
        add("bambu_printer_job_filament_planned_meters", f.meters, str(f.slot), *where,
            f.material, f.color)
    for item in runway(filament, snap):
        add("bambu_printer_job_filament_needed_grams", item.needed, item.ams, item.tray)
        if item.left is not None:
            add("bambu_printer_job_filament_runway_grams", item.left - item.needed,
                item.ams, item.tray)


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def inventory_samples(inventory: InventoryStatus) -> list[Sample]:
    out: list[Sample] = [
        ("bambu_inventory_up", (), 1.0 if inventory.up else 0.0),
        ("bambu_inventory_printers", (), float(inventory.printers)),
        ("bambu_inventory_errors_total", (), float(inventory.errors)),
    ]
    out.extend(("bambu_inventory_rejected_rows_total", (reason,), float(count))
               for reason, count in sorted(inventory.rejected.items()))
    return out


def exporter_samples(exporter: ExporterStatus) -> list[Sample]:
    return [
        ("bambu_exporter_build_info",
         (exporter.version, exporter.revision, exporter.bambulabs_api_version), 1.0),
        ("bambu_exporter_collect_duration_seconds", (), exporter.collect_duration),
        ("bambu_exporter_collect_errors_total", (), float(exporter.collect_errors)),
        ("bambu_exporter_shard_info", (str(exporter.shard_index), str(exporter.shard_count)),
         1.0),
        ("bambu_exporter_shards", (), float(exporter.shard_count)),
        ("bambu_exporter_hms_text_rejected_entries_total", (),
         float(exporter.hms_text_rejected)),
        ("bambu_exporter_worker_restarts_total", (), float(exporter.worker_restarts)),
    ]


def renderable_samples(status: PrinterStatus, describe: Describe = no_text) -> list[Sample]:
    """printer_samples, checked: raises for this printer alone (the caller's per-printer
    guard) what would otherwise fail the whole exposition when it is written."""
    samples = printer_samples(status, describe)
    check_renderable(samples)
    return samples


def check_renderable(samples: list[Sample]) -> None:
    """Raise here, for this printer alone, what would fail the whole exposition later:
    label text that is not valid UTF-8 (values are normalised where they enter; this
    keeps a slip anywhere from costing every printer's scrape)."""
    "".join([text for _, labels, _ in samples for text in labels]).encode("utf-8")


def families(samples: Iterable[Sample]) -> list[Metric]:
    """Group samples into one family per catalogue entry, in catalogue order."""
    built: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        spec.name: _empty_family(spec) for spec in CATALOGUE}
    for name, labels, value in samples:
        built[name].add_metric(list(labels), value)
    return list(built.values())


def described() -> list[Metric]:
    """The catalogue without samples, for the collector's describe()."""
    return [_empty_family(spec) for spec in CATALOGUE]


def _empty_family(spec: Spec) -> GaugeMetricFamily | CounterMetricFamily:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help,
                                   labels=list(spec.label_names))
    return GaugeMetricFamily(spec.name, spec.help, labels=list(spec.label_names))
