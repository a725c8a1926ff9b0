"""The page at /printer/<serial>: one printer whole, for a person at the farm. Its job,
AMS units and trays, nozzles (and rack hotends), temperatures against targets, fans, door
and lights, every HMS message in words with the wiki page of its model family, the print
error, the last connection errors, firmware and the update on offer, network and signal.

Server-rendered like the overview: no script, style inline, everything escaped. A
printer that is not up shows what is known of it (name, model, last report, why it is
offline, its connection errors) and no telemetry: stale values are not news.
"""

from __future__ import annotations

from exporter import __version__
from exporter.metrics.catalogue import Describe
from exporter.printer.snapshot import AmsUnit, Nozzle, PrinterSnapshot, Tray
from exporter.printer.status import PrinterStatus
from exporter.printer.vocabulary import hms_wiki_url
from exporter.printer.words import (
    FAN_WORDS,
    LIGHT_WORDS,
    NOZZLE_FLOW_WORDS,
    NOZZLE_MATERIAL_WORDS,
    SENSOR_WORDS,
    ams_words,
    model_words,
    stage_words,
    state_words,
)
from exporter.web.attention import tray_words, troubles
from exporter.web.html_parts import (
    STYLE,
    ago,
    bar,
    clock,
    dashboard_url,
    duration,
    e,
    swatch,
)
from exporter.web.job_words import state_age_words
from exporter.web.landing_page import REFRESH_SECONDS, trouble_list

PAGE_STYLE = STYLE + """
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
section.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .4em .9em .8em;
               flex: 1 1 20em; max-width: 100%; box-sizing: border-box; }
section.card h2 { margin-top: .3em; }
section.card table { width: 100%; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em .8em; margin: 0; }
dt { color: #57606a; }
dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 600px) {
  body { margin: .6em; }
  section.card { padding: .3em .5em .6em; }
  td.n { white-space: normal; overflow-wrap: anywhere; }
}
"""


def printer_page(status: PrinterStatus, now: float, describe: Describe,
                 dashboard_template: str = "") -> str:
    snap = status.snapshot if status.up else None
    title = f"{status.name} · {model_words(status.model)}"
    links = ['<a href="/">← all printers</a>']
    if dashboard_template:
        url = dashboard_url(dashboard_template, status.name, status.serial)
        links.append(f'<a href="{e(url)}" rel="noreferrer" id="dashboard">dashboard</a>')
    sections = [_overview(status, snap, now), _attention(status, describe)]
    if snap is not None:
        sections += [_job(status, snap, now), _temperatures(snap), _nozzles(snap), _ams(snap),
                     _hms(status, snap, describe), _machine(snap)]
    sections.append(_connection(status, now))
    body = "\n".join(part for part in sections if part)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)} · bambu-exporter</title>
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{PAGE_STYLE}</style></head>
<body>
<p class="muted">{" · ".join(links)}</p>
<h1 id="printer-name">{e(status.name)}</h1>
<p class="muted">{e(model_words(status.model))} · serial {e(status.serial)}</p>
<div class="cards">
{body}
</div>
<p class="muted">As of {e(clock(now))}; this page refreshes every {REFRESH_SECONDS} s.
bambu-exporter {e(__version__)}.</p>
</body></html>
"""


def not_found_page(serial_shown: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>No such printer · bambu-exporter</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body><h1>No such printer</h1>
<p>No printer with serial <code>{e(serial_shown)}</code> is served by this exporter (a
printer of another shard is served by that shard's exporter).</p>
<p><a href="/">All printers</a></p></body></html>
"""


def _card(ident: str, title: str, content: str) -> str:
    return f'<section class="card" id="{ident}"><h2>{e(title)}</h2>\n{content}\n</section>'


def _facts(rows: list[tuple[str, str]]) -> str:
    """(term, HTML) pairs as a definition list; the terms are ours, the HTML escaped."""
    items = "".join(f"<dt>{e(term)}</dt><dd>{value}</dd>" for term, value in rows)
    return f"<dl>{items}</dl>"


def _overview(status: PrinterStatus, snap: PrinterSnapshot | None, now: float) -> str:
    state = status.state
    rows = [("State", f'<span class="state-{e(state.lower())}" id="state">'
                      f"{e(state_words(state))}</span> <span class=\"small\">({e(state)})</span>")]
    since = state_age_words(status, now)
    if since:
        rows.append(("For", f'<span id="state-age">{e(since)}</span>'))
    if snap is not None and snap.stage:
        rows.append(("Stage", f'<span id="stage">{e(stage_words(snap.stage))}</span>'))
    rows += [("Model", e(model_words(status.model))),
             ("Address", e(status.ip)),
             ("Last report", e(ago(status.last_report, now)))]
    return _card("summary", "Now", _facts(rows))


def _attention(status: PrinterStatus, describe: Describe) -> str:
    found = troubles(status, describe)
    if not found:
        return ""
    return _card("attention", "Needs attention", trouble_list(tuple(found)))


def _job(status: PrinterStatus, snap: PrinterSnapshot, now: float) -> str:
    rows: list[tuple[str, str]] = []
    name = snap.job_task or snap.job_file
    if name:
        rows.append(("Job", f'<span id="job">{e(name)}</span>'))
    if snap.job_file and snap.job_file != name:
        rows.append(("File", e(snap.job_file)))
    if snap.progress is not None and snap.state != "IDLE":
        rows.append(("Progress", bar(snap.progress)))
    if snap.layer is not None and snap.layers:
        rows.append(("Layer", f"{snap.layer} of {snap.layers}"))
    if snap.print_start is not None and snap.state != "IDLE":
        rows.append(("Started", e(clock(snap.print_start))))
    if snap.remaining_seconds and snap.state in ("RUNNING", "PAUSE", "PREPARE"):
        rows.append(("Time left", e(duration(snap.remaining_seconds))))
        rows.append(("Ends", e(clock(now + snap.remaining_seconds))))
    if snap.speed is not None and snap.state in ("RUNNING", "PAUSE", "PREPARE"):
        rows.append(("Speed", f"{snap.speed * 100:.0f} %"))
    plan = status.filament.plan if status.filament is not None else None
    if plan is not None and status.filament is not None and status.filament.job_active:
        if plan.prediction_seconds is not None:
            rows.append(("Sliced time", e(duration(plan.prediction_seconds))))
        if plan.weight_grams is not None:
            rows.append(("Sliced weight", f"{plan.weight_grams:.0f} g"))
    ended = status.last_job
    if ended is not None:
        rows.append(("Last job", f'<span id="last-job">{e(ended.result)}, '
                                 f"{e(ago(ended.ended, now))} after "
                                 f"{e(duration(ended.duration))}</span>"))
    content = _facts(rows) if rows else '<p class="muted">No job.</p>'
    return _card("job", "Job", content + _plate_filaments(status))


def _plate_filaments(status: PrinterStatus) -> str:
    """The running job's filaments from its 3MF (read over FTPS): colour, material, grams
    and metres as sliced, and the tray that feeds each."""
    filament = status.filament
    if filament is None or filament.plan is None or not filament.job_active:
        return ""
    rows = []
    for planned, tray in filament.trays:
        where = tray_words(tray.ams, tray.tray) if tray is not None else "not known"
        rows.append(f"<tr><td>{swatch(planned.color.lstrip('#'))} "
                    f"{e(planned.material or 'filament')}</td>"
                    f'<td class="n">{planned.grams:.1f} g</td>'
                    f'<td class="n">{planned.meters:.2f} m</td><td>{e(where)}</td></tr>')
    if not rows:
        return ""
    return ('<h3 class="small">This plate\'s filaments</h3>'
            '<table id="plate-filaments"><thead><tr><th>Filament</th><th>Grams</th>'
            f'<th>Metres</th><th>Tray</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _temperatures(snap: PrinterSnapshot) -> str:
    targets = dict(snap.targets)
    lines = []
    for sensor, value in snap.temperatures:
        target = targets.get(sensor)
        lines.append(f"<tr><td>{e(SENSOR_WORDS.get(sensor, sensor))}</td>"
                     f'<td class="n">{value:.0f} °C</td>'
                     f'<td class="n">{f"{target:.0f} °C" if target else "off"}</td></tr>')
    fans = "".join(f"<tr><td>{e(FAN_WORDS.get(fan, fan))} fan</td>"
                   f'<td class="n" colspan="2">{ratio * 100:.0f} %</td></tr>'
                   for fan, ratio in snap.fans)
    if not lines and not fans:
        return ""
    return _card("temperatures", "Temperatures and fans",
                 "<table><thead><tr><th>Sensor</th><th>Now</th><th>Target</th></tr></thead>"
                 f"<tbody>{''.join(lines)}{fans}</tbody></table>")


def _nozzle_row(nozzle: Nozzle, where: str) -> str:
    material = NOZZLE_MATERIAL_WORDS.get(nozzle.material, nozzle.material)
    flow = NOZZLE_FLOW_WORDS.get(nozzle.flow, nozzle.flow)
    kind = ", ".join(part for part in (material, flow) if part)
    return (f"<tr><td>{e(where)}</td><td>{e(nozzle.diameter)}{' mm' if nozzle.diameter else ''}"
            f"</td><td>{e(kind)}</td><td class=\"small\">{e(nozzle.type)}</td></tr>")


def _nozzles(snap: PrinterSnapshot) -> str:
    if not snap.nozzles and not snap.rack_hotends:
        return ""
    names = {"0": "nozzle", "right": "right nozzle", "left": "left nozzle"}
    rows = [_nozzle_row(n, names.get(n.nozzle, f"nozzle {n.nozzle}")) for n in snap.nozzles]
    rows += [_nozzle_row(h, f"rack hotend {h.nozzle}") for h in snap.rack_hotends]
    active = ""
    if snap.active_extruder is not None:
        active = (f'<p>Active: the {"left" if snap.active_extruder else "right"} '
                  "nozzle.</p>")
    return _card("nozzles", "Nozzles",
                 f"{active}<table><thead><tr><th>Where</th><th>Diameter</th><th>Kind</th>"
                 f"<th>Code</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _tray_row(tray: Tray) -> str:
    left = "" if tray.remaining is None else bar(tray.remaining)
    return (f"<tr><td>{e(_slot_name(tray))}</td><td>{swatch(tray.color)}{e(tray.material)}</td>"
            f'<td class="n">{left or "<span class=muted>not known</span>"}</td></tr>')


def _slot_name(tray: Tray) -> str:
    if tray.ams == "external":
        return {"254": "external spool", "255": "left external spool"}.get(
            tray.tray, f"external {tray.tray}")
    try:
        return f"slot {int(tray.tray) + 1}"
    except ValueError:
        return f"slot {tray.tray}"


def _unit_facts(unit: AmsUnit) -> str:
    parts = []
    if unit.humidity_ratio is not None:
        parts.append(f"humidity {unit.humidity_ratio * 100:.0f} %")
    if unit.humidity_index is not None:
        parts.append(f"dryness level {unit.humidity_index} of 5 (1 dry, 5 wet)")
    if unit.temperature is not None:
        parts.append(f"{unit.temperature:.0f} °C")
    if unit.drying:
        parts.append('<strong class="drying">drying</strong>')
    return " · ".join(parts)


def _ams(snap: PrinterSnapshot) -> str:
    blocks = []
    for unit in snap.ams:
        trays = [t for t in snap.trays if t.ams == unit.ams]
        rows = "".join(_tray_row(t) for t in trays) or \
            '<tr><td colspan="3" class="muted">no filament loaded</td></tr>'
        blocks.append(
            f'<h3 class="small">{e(ams_words(unit.model))} {e(unit.ams)}</h3>'
            f"<p>{_unit_facts(unit)}</p>"
            "<table><thead><tr><th>Slot</th><th>Filament</th><th>Left</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
    external = [t for t in snap.trays if t.ams == "external"]
    if external:
        blocks.append("<h3 class=\"small\">External</h3><table><tbody>"
                      + "".join(_tray_row(t) for t in external) + "</tbody></table>")
    if not blocks:
        return ""
    return _card("ams", "AMS and filament", "\n".join(blocks))


def _hms(status: PrinterStatus, snap: PrinterSnapshot, describe: Describe) -> str:
    rows = []
    for message in snap.hms:
        text = describe(message.code) or "no text loaded for this code"
        link = hms_wiki_url(status.model, message.code)
        rows.append(f'<tr><td class="n"><a href="{e(link)}" rel="noreferrer">'
                    f"{e(message.code)}</a></td><td>{e(message.severity)}</td>"
                    f"<td>{e(message.module)}</td><td>{e(text)}</td></tr>")
    error = snap.print_error_code
    parts = []
    if rows:
        parts.append("<table><thead><tr><th>Code</th><th>Severity</th><th>Module</th>"
                     f"<th>What it means</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    else:
        parts.append('<p class="muted">No HMS message.</p>')
    if error:
        text = describe(error)
        parts.append(f'<p id="print-error">Print error <strong>{e(error)}</strong>'
                     + (f": {e(text)}" if text else "") + "</p>")
    return _card("hms", "HMS messages and print error", "\n".join(parts))


def _machine(snap: PrinterSnapshot) -> str:
    rows: list[tuple[str, str]] = []
    if snap.door_open is not None:
        rows.append(("Door", "open" if snap.door_open else "closed"))
    for light, on in snap.lights:
        rows.append((LIGHT_WORDS.get(light, light).capitalize(), "on" if on else "off"))
    if snap.network_link is not None:
        rows.append(("Network", "wired" if snap.network_link == "wired" else "Wi-Fi"))
    if snap.wifi_dbm is not None:
        rows.append(("Wi-Fi signal", f"{snap.wifi_dbm:.0f} dBm"))
    if snap.sdcard is not None:
        rows.append(("SD card", e(snap.sdcard)))
    if snap.camera_recording is not None:
        rows.append(("Camera recording", "on" if snap.camera_recording else "off"))
    if snap.firmware_update:
        offer = snap.firmware_new_version or "a new version"
        rows.append(("Firmware update", f'<strong id="update">{e(offer)} on offer</strong>'))
    if not rows:
        return ""
    return _card("machine", "Door, lights, network", _facts(rows))


def _connection(status: PrinterStatus, now: float) -> str:
    rows = [("Connected", "yes" if status.connected else "no"),
            ("Firmware", e(status.firmware) or '<span class="muted">not said yet</span>'),
            ("Sessions established", str(status.connects))]
    if status.connection_errors:
        counts = ", ".join(f"{e(reason.label)} {count}" for reason, count
                           in sorted(status.connection_errors.items(),
                                     key=lambda item: item[0].label))
        rows.append(("Connection errors", counts))
    recent = "".join(
        f'<tr><td class="n">{e(clock(moment))}</td><td>{e(reason.label)}</td>'
        f"<td>{e(reason.words)}"
        f'<br><span class="small">{e(text)}</span></td></tr>'
        for moment, reason, text in reversed(status.recent_errors))
    table = ("<table><thead><tr><th>When</th><th>Reason</th><th>What happened</th></tr>"
             f"</thead><tbody>{recent}</tbody></table>") if recent else ""
    return _card("connection", "Connection and firmware", _facts(rows) + table)
