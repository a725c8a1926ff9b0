"""The page at /: the farm's overview for people. Who needs a hand now and why, in words,
then the rest; filters by state and a search on name or serial as query parameters.

Server-rendered HTML with its style inline: no script, no external asset, so it works
behind any proxy and without JavaScript; it refreshes itself (the query kept).
Everything printed is escaped: names come from a database we do not control.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from exporter import __version__
from exporter.metrics.catalogue import STATES, Describe, no_text
from exporter.printer.snapshot import PrinterSnapshot
from exporter.printer.status import PrinterStatus
from exporter.web.attention import Entry, Trouble, ordered

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
                 telemetry_path: str = "/metrics") -> str:
    """The page at /. `shard_line` says which slice of the list a sharded exporter
    serves (empty: not sharded); `describe` gives HMS and print error texts."""
    wanted = wanted or Filter()
    entries = ordered(statuses, describe)
    shown = [entry for entry in entries if wanted.keeps(entry)]
    rows = "\n".join(_row(entry, now) for entry in shown)
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


COLUMNS = ("Name", "Serial", "Model", "State", "Stage", "Up", "Needs attention", "Job",
           "Progress", "Temperatures", "AMS humidity", "Last report", "Last error")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; font-size: 13px; }
h1 { margin: 0 0 .2em; font-size: 1.6em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .2em .4em; text-align: left;
         vertical-align: top; max-width: 24em; }
th { background: #f3f3f3; white-space: nowrap; }
td.n { white-space: nowrap; }
tr.attention td:first-child { border-left: 5px solid #bf8700; }
tr.urgent td:first-child { border-left: 5px solid #cf222e; }
.state-running { color: #1a7f37; font-weight: bold; }
.state-pause, .state-prepare { color: #9a6700; font-weight: bold; }
.state-failed { color: #bc4c00; font-weight: bold; }
.state-offline { color: #cf222e; font-weight: bold; }
.up-no { color: #cf222e; }
.trouble { margin: 0; padding-left: 1.1em; }
.trouble li { margin: 0; }
.fix { color: #57606a; }
.bar { display: inline-block; width: 5em; height: .6em; background: #eaeef2;
       vertical-align: middle; margin-right: .3em; }
.bar span { display: block; height: 100%; background: #1a7f37; }
.alert { background: #ffebe9; border: 1px solid #cf222e; padding: .5em 1em; }
.summary { font-size: 1.1em; }
.summary a { margin-right: .6em; }
.need { color: #cf222e; font-weight: bold; }
.muted { color: #666; }
form { margin: .6em 0; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _summary(entries: list[Entry], up: int) -> str:
    by_state = Counter(entry.status.state for entry in entries)
    attention = sum(1 for entry in entries if entry.needs_attention)
    parts = [f'<a href="/?{urlencode({"state": state})}" class="state-{state.lower()}">'
             f'{count} {state}</a>'
             for state in STATES if (count := by_state.get(state))]
    need = (f'<a href="/?state={ATTENTION}" class="need" id="attention-count">'
            f'{attention} need attention</a>' if attention else
            '<span id="attention-count">nobody needs a hand</span>')
    return (f'<p class="summary" id="summary"><strong><span id="printer-count">'
            f'{len(entries)}</span> printers, <span id="up-count">{up}</span> up</strong>: '
            f'{" ".join(parts)} · {need}</p>')


def _form(wanted: Filter, shown: int, total: int) -> str:
    options = [("", "every state"), (ATTENTION, "needs attention"),
               *((state, state) for state in STATES)]
    choices = "".join(
        f'<option value="{_e(value)}"{" selected" if value == wanted.state else ""}>'
        f'{_e(label)}</option>' for value, label in options)
    clear = ' <a href="/">show all</a>' if wanted.state or wanted.text else ""
    return (f'<form method="get" action="/" id="filter">'
            f'<label>State <select name="state">{choices}</select></label> '
            f'<label>Name or serial <input type="search" name="q" value="{_e(wanted.text)}">'
            f'</label> <button type="submit">Filter</button>{clear} '
            f'<span class="muted" id="shown">{shown} of {total} shown</span></form>')


def _row(entry: Entry, now: float) -> str:
    status = entry.status
    state = status.state
    snap = status.snapshot if status.up else None
    css = ""
    if entry.troubles:
        css = ' class="urgent"' if entry.troubles[0].rank <= 2 else ' class="attention"'
    if status.last_report is None:
        seen = "never"
    else:
        seen = f"{max(0.0, now - status.last_report):.0f} s ago"
    up = "yes" if status.up else "no"
    return (
        f"<tr{css}>"
        f"<td>{_e(status.name)}</td>"
        f'<td class="n">{_e(status.serial)}</td>'
        f"<td>{_e(status.model)}</td>"
        f'<td class="state state-{_e(state.lower())}">{_e(state)}</td>'
        f"<td>{_stage(snap)}</td>"
        f'<td class="up-{up}">{up}</td>'
        f"<td>{_troubles(entry.troubles)}</td>"
        f"{_job_cells(snap, now)}"
        f'<td class="n">{_temperatures(snap)}</td>'
        f'<td class="n">{_ams(snap)}</td>'
        f'<td class="n">{_e(seen)}</td>'
        f"<td>{_e(status.last_error)}</td>"
        "</tr>")


def _stage(snap: PrinterSnapshot | None) -> str:
    # Long stage names may break after an underscore; the text stays the same.
    if snap is None or snap.stage is None:
        return ""
    return _e(snap.stage).replace("_", "_<wbr>")


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


def _job_cells(snap: PrinterSnapshot | None, now: float) -> str:
    if snap is None or snap.state == "IDLE":
        return "<td></td><td></td>"
    job = _e(snap.job_task or snap.job_file)
    progress = ""
    if snap.progress is not None:
        percent = round(snap.progress * 100)
        progress = (f'<span class="bar"><span style="width:{percent}%"></span></span>'
                    f"{percent} %")
        if snap.layer is not None and snap.layers:
            progress += f" · layer {snap.layer}/{snap.layers}"
    left = ""
    if snap.remaining_seconds and snap.state in ("RUNNING", "PAUSE", "PREPARE"):
        minutes = round(snap.remaining_seconds / 60)
        end = time.strftime("%H:%M", time.localtime(now + snap.remaining_seconds))
        left = f"<br>ends {end} ({minutes // 60} h {minutes % 60:02d} min left)"
    return f'<td>{job}</td><td class="n">{progress}{left}</td>'


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
