"""The page at /: the farm's overview for people. Who needs a hand now and why, in words,
then the rest; filters by state and a search on name or serial as query parameters.

Server-rendered HTML with its style inline: no script, no external asset, so it works
behind any proxy and without JavaScript; it refreshes itself (the query kept).
Everything printed is escaped: names come from a database we do not control.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from exporter import __version__
from exporter.metrics.catalogue import STATES, Describe, no_text
from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.snapshot import PrinterSnapshot
from exporter.printer.status import PrinterStatus
from exporter.printer.words import model_words, stage_words, state_words
from exporter.web.attention import DEFAULT_PLATE_WAITING, Entry, Trouble, ordered, tray_words
from exporter.web.html_parts import STYLE as BASE_STYLE
from exporter.web.html_parts import bar, dashboard_url, e, printer_path
from exporter.web.job_words import jobs_summary, state_age_words

REFRESH_SECONDS = 15
ATTENTION = "attention"   # the state filter's value for "needs attention"
MAX_QUERY = 100           # characters of the search kept


@dataclass(frozen=True)
class Filter:
    """What the query string asks for: a state (or "attention") and a search text."""

    state: str = ""
    text: str = ""

    @staticmethod
    def of(query: Mapping[str, list[str]]) -> Filter:
        state = (query.get("state") or [""])[0].strip()
        if state != ATTENTION:
            state = state.upper() if state.upper() in STATES else ""
        text = " ".join((query.get("q") or [""])[0].split())[:MAX_QUERY]
        return Filter(state, text)

    def keeps(self, entry: Entry) -> bool:
        status = entry.status
        if self.state == ATTENTION and not entry.needs_attention:
            return False
        if self.state and self.state != ATTENTION and status.state != self.state:
            return False
        if self.text:
            needle = self.text.lower()
            return needle in status.name.lower() or needle in status.serial.lower()
        return True


def landing_page(statuses: Iterable[PrinterStatus], source: str, now: float,
                 inventory_up: bool = True, shard_line: str = "",
                 describe: Describe = no_text, wanted: Filter | None = None,
                 telemetry_path: str = "/metrics", dashboard_template: str = "",
                 plate_waiting: float = DEFAULT_PLATE_WAITING) -> str:
    """The page at /. `shard_line` says which slice of the list a sharded exporter
    serves (empty: not sharded); `describe` gives HMS and print error texts;
    `dashboard_template` (--web.dashboard-url) links each printer to its dashboard; a
    plate waiting longer than `plate_waiting` seconds needs attention."""
    wanted = wanted or Filter()
    entries = ordered(statuses, describe, now, plate_waiting)
    shown = [entry for entry in entries if wanted.keeps(entry)]
    rows = "\n".join(_row(entry, now, dashboard_template) for entry in shown)
    if not rows:
        rows = (f'<tr><td colspan="{len(COLUMNS)}">'
                + ("No printers in the list." if not entries else "No printer matches.")
                + "</td></tr>")
    up = sum(1 for entry in entries if entry.status.up)
    banner = "" if inventory_up else (
        '<p class="alert" id="inventory-down">The printer list cannot be read right now: '
        "showing the last good list. See the exporter's log.</p>")
    shard = f'<p id="shard">This exporter serves {_e(shard_line)}.</p>\n' \
        if shard_line else ""
    path = _e(telemetry_path)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    heads = "".join(f"<th>{name}</th>" for name in COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bambu-exporter</title>
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body>
<h1>bambu-exporter</h1>
<p class="muted">Version {_e(__version__)}. Printer list: {_e(source)}.
<a href="{path}">{path}</a> · <a href="/-/healthy">/-/healthy</a> ·
<a href="/-/ready">/-/ready</a></p>
{shard}{banner}{_summary(entries, up)}
{_form(wanted, len(shown), len(entries))}
<table id="fleet">
<thead><tr>{heads}</tr></thead>
<tbody>
{rows}
</tbody></table>
<p class="muted">As of {_e(stamp)}; this page refreshes every {REFRESH_SECONDS} s.</p>
</body></html>
"""


COLUMNS = ("Name", "Serial", "Model", "State", "How long", "Stage", "Up", "Needs attention", "Job",
           "Progress", "Temperatures", "AMS humidity", "Last report", "Last error")

# The overview fits a 1366 px screen: the table takes the page's width and its cells
# wrap; below 760 px each printer becomes a card, each cell a line with its header.
STYLE = BASE_STYLE + """
table#fleet { width: 100%; }
#fleet th { white-space: normal; }
#fleet td { max-width: 22em; }
/* by column: 1 name, 2 serial, 5 how long, 7 up, 8 attention, 9 job, 10 progress,
   11 temperatures, 12 AMS, 13 last report, 14 last error */
#fleet td:nth-child(2), #fleet td:nth-child(n+10):nth-child(-n+13) { white-space: nowrap; }
#fleet td:nth-child(8), #fleet td:nth-child(9), #fleet td:nth-child(14) {
  overflow-wrap: anywhere; }
tr.attention td:first-child { border-left: 5px solid #bf8700; }
tr.urgent td:first-child { border-left: 5px solid #cf222e; }
.filaments { list-style: none; margin: .2em 0 0; padding: 0; font-size: .85em; }
@media (max-width: 1500px) {
  #fleet td:nth-child(n):nth-child(n) { white-space: normal; }
  #fleet th:nth-child(2), #fleet td:nth-child(2), #fleet th:nth-child(7),
  #fleet td:nth-child(7) { display: none; }
}
@media (max-width: 760px) {
  body { margin: .6em; }
  #fleet, #fleet tbody, #fleet tr, #fleet td { display: block; width: auto; max-width: none; }
  #fleet thead { display: none; }
  #fleet tr { border: 1px solid #d0d7de; border-radius: 6px; margin: 0 0 .8em;
              padding: .3em .5em; }
  #fleet td { border: none; padding: .15em 0; }
  #fleet td:empty { display: none; }
  #fleet td::before { color: #57606a; }
""" + "".join(f'  #fleet td:nth-child({i}):not(:empty)::before {{ content: "{name}: "; }}\n'
              for i, name in enumerate(COLUMNS, 1) if i > 1) + """\
  #fleet td:first-child { font-size: 1.15em; font-weight: bold; }
  tr.attention td:first-child, tr.urgent td:first-child { border-left: none; }
  tr.attention { border-left: 5px solid #bf8700 !important; }
  tr.urgent { border-left: 5px solid #cf222e !important; }
  form label { display: block; margin-bottom: .3em; }
}
"""


_e = e


def _summary(entries: list[Entry], up: int) -> str:
    by_state = Counter(entry.status.state for entry in entries)
    attention = sum(1 for entry in entries if entry.needs_attention)
    parts = [f'<a href="/?{urlencode({"state": state})}" class="state-{state.lower()}">'
             f'{count} {_e(state_words(state))}</a>'
             for state in STATES if (count := by_state.get(state))]
    need = (f'<a href="/?state={ATTENTION}" class="need" id="attention-count">'
            f'{attention} need attention</a>' if attention else
            '<span id="attention-count">nobody needs a hand</span>')
    return (f'<p class="summary" id="summary"><strong><span id="printer-count">'
            f'{len(entries)}</span> printers, <span id="up-count">{up}</span> up</strong>: '
            f'{" ".join(parts)} · {need} · {_jobs(entries)}</p>')


def _jobs(entries: list[Entry]) -> str:
    summary = jobs_summary(entry.status for entry in entries)
    if not summary.total:
        return '<span id="jobs">no job ended since the exporter started</span>'
    counts = ", ".join(f"{count} {result}" for result, count in summary.counts)
    ratio = summary.success_ratio or 0.0
    return (f'<span id="jobs">jobs since start: {counts}'
            f' (<span id="success-ratio">{ratio * 100:.0f} %</span> succeeded)</span>')


def _form(wanted: Filter, shown: int, total: int) -> str:
    options = [("", "every state"), (ATTENTION, "needs attention"),
               *((state, state_words(state)) for state in STATES)]
    choices = "".join(
        f'<option value="{_e(value)}"{" selected" if value == wanted.state else ""}>'
        f'{_e(label)}</option>' for value, label in options)
    clear = ' <a href="/">show all</a>' if wanted.state or wanted.text else ""
    return (f'<form method="get" action="/" id="filter">'
            f'<label>State <select name="state">{choices}</select></label> '
            f'<label>Name or serial <input type="search" name="q" value="{_e(wanted.text)}">'
            f'</label> <button type="submit">Filter</button>{clear} '
            f'<span class="muted" id="shown">{shown} of {total} shown</span></form>')


def _row(entry: Entry, now: float, dashboard_template: str = "") -> str:
    status = entry.status
    state = status.state
    snap = status.snapshot if status.up else None
    css = ""  # cells are styled by column (STYLE): classes only where a value colours one
    if entry.troubles:
        css = ' class="urgent"' if entry.troubles[0].rank <= 2 else ' class="attention"'
    if status.last_report is None:
        seen = "never"
    else:
        seen = f"{max(0.0, now - status.last_report):.0f} s ago"
    up = "yes" if status.up else "no"
    name = f'<a href="{_e(printer_path(status.serial))}">{_e(status.name)}</a>'
    if dashboard_template:
        url = dashboard_url(dashboard_template, status.name, status.serial)
        name += f'<div class="small"><a href="{_e(url)}" rel="noreferrer">dashboard</a></div>'
    cells = (
        ("", name),
        ("", _e(status.serial)),
        ("", _e(model_words(status.model))),
        (f"state state-{_e(state.lower())}", _e(state_words(state))),
        ("", _e(state_age_words(status, now))),
        ("", _stage(snap)),
        (f"up-{up}" if not status.up else "", up),
        ("", _troubles(entry.troubles)),
        *_job_cells(snap, now, status.filament),
        ("", _temperatures(snap)),
        ("", _ams(snap)),
        ("", _e(seen)),
        ("", _e(status.last_error)),
    )
    tds = "".join(f'<td class="{kind}">{content}</td>' if kind else f"<td>{content}</td>"
                  for kind, content in cells)
    return f"<tr{css}>{tds}</tr>"


def _stage(snap: PrinterSnapshot | None) -> str:
    if snap is None or snap.stage is None:
        return ""
    return _e(stage_words(snap.stage))


def trouble_list(troubles: tuple[Trouble, ...]) -> str:
    """Troubles as a list: words, a link where one helps, the fix in brackets."""
    return _troubles(troubles)


def _troubles(troubles: tuple[Trouble, ...]) -> str:
    if not troubles:
        return ""
    items = []
    for trouble in troubles:
        text = _e(trouble.text)
        if trouble.link:
            text = f'<a href="{_e(trouble.link)}" rel="noreferrer">{text}</a>'
        if trouble.fix:
            text += f' <span class="fix">({_e(trouble.fix)})</span>'
        items.append(f"<li>{text}</li>")
    return f'<ul class="trouble">{"".join(items)}</ul>'


def _job_cells(snap: PrinterSnapshot | None, now: float,
               filament: FilamentStatus | None = None) -> tuple[tuple[str, str], ...]:
    if snap is None or snap.state == "IDLE":
        return ("", ""), ("", "")
    job = _e(snap.job_task or snap.job_file) + _filaments(filament)
    progress = ""
    if snap.progress is not None:
        progress = bar(snap.progress)
        if snap.layer is not None and snap.layers:
            progress += f" · layer {snap.layer}/{snap.layers}"
    left = ""
    if snap.remaining_seconds and snap.state in ("RUNNING", "PAUSE", "PREPARE"):
        minutes = round(snap.remaining_seconds / 60)
        end = time.strftime("%H:%M", time.localtime(now + snap.remaining_seconds))
        left = f"<br>ends {end} ({minutes // 60} h {minutes % 60:02d} min left)"
    return ("", job), ("", f"{progress}{left}")


def _filaments(filament: FilamentStatus | None) -> str:
    """The running job's filaments from its plan: swatch, material, grams, tray."""
    if filament is None or filament.plan is None or not filament.job_active:
        return ""
    items = []
    for f, tray in filament.trays:
        # the colour is #RRGGBB or empty (checked where the plan is read)
        swatch = f'<span class="swatch" style="background:{f.color}"></span>' if f.color else ""
        where = f" · {_e(tray_words(tray.ams, tray.tray))}" if tray is not None else ""
        items.append(f"<li>{swatch}{_e(f.material or 'filament')} {f.grams:.0f} g{where}</li>")
    return f'<ul class="filaments">{"".join(items)}</ul>'


def _temperatures(snap: PrinterSnapshot | None) -> str:
    if snap is None:
        return ""
    targets = dict(snap.targets)
    parts = []
    for sensor, value in snap.temperatures:
        target = targets.get(sensor)
        shown = f"{value:.0f}/{target:.0f}" if target else f"{value:.0f}"
        parts.append(f"{_e(sensor.replace('_', ' '))} {shown} °C")
    return "<br>".join(parts)


def _ams(snap: PrinterSnapshot | None) -> str:
    if snap is None:
        return ""
    parts = []
    for unit in snap.ams:
        if unit.humidity_ratio is not None:
            parts.append(f"AMS {_e(unit.ams)}: {unit.humidity_ratio * 100:.0f} %")
        elif unit.humidity_index is not None:
            parts.append(f"AMS {_e(unit.ams)}: {unit.humidity_index}/5")
    return "<br>".join(parts)
