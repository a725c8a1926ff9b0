"""The page at /: links and one row per printer, for people."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

from exporter import __version__
from exporter.printer.status import PrinterStatus


def landing_page(statuses: Iterable[PrinterStatus], source: str, now: float,
                 inventory_up: bool = True, shard_line: str = "",
                 telemetry_path: str = "/metrics") -> str:
    """The page at /: links and one row per printer. Everything printed is escaped:
    printer names come from a database we do not control. `shard_line` says which
    slice of the list a sharded exporter serves (empty: not sharded)."""
    statuses = list(statuses)
    rows = []
    for status in statuses:
        state = status.state
        if status.last_report is None:
            seen = "never"
        else:
            seen = f"{max(0.0, now - status.last_report):.0f} s ago"
        rows.append(
            "<tr>"
            f"<td>{html.escape(status.name)}</td>"
            f"<td>{html.escape(status.serial)}</td>"
            f"<td>{html.escape(status.model)}</td>"
            f"<td class=\"state state-{html.escape(state.lower())}\">{html.escape(state)}</td>"
            f"<td class=\"up-{'yes' if status.up else 'no'}\">{'yes' if status.up else 'no'}</td>"
            f"<td>{html.escape(seen)}</td>"
            f"<td>{html.escape(status.last_error)}</td>"
            "</tr>")
    body = "\n".join(rows) or '<tr><td colspan="7">No printers in the list.</td></tr>'
    up = sum(1 for status in statuses if status.up)
    banner = "" if inventory_up else (
        '<p class="alert" id="inventory-down">The printer list cannot be read right now: '
        "showing the last good list. See the exporter's log.</p>")
    shard = f'<p id="shard">This exporter serves {html.escape(shard_line)}.</p>\n' \
        if shard_line else ""
    path = html.escape(telemetry_path)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bambu-exporter</title>
<meta http-equiv="refresh" content="15">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3em .7em; text-align: left; }}
th {{ background: #f3f3f3; }}
td:not(:last-child), th {{ white-space: nowrap; }}
.state-running {{ color: #1a7f37; font-weight: bold; }}
.state-pause {{ color: #9a6700; font-weight: bold; }}
.state-failed {{ color: #bc4c00; font-weight: bold; }}
.state-offline {{ color: #cf222e; font-weight: bold; }}
.up-no {{ color: #cf222e; }}
.alert {{ background: #ffebe9; border: 1px solid #cf222e; padding: .5em 1em; }}
.muted {{ color: #666; }}
</style></head>
<body>
<h1>bambu-exporter</h1>
<p>Version {html.escape(__version__)}. Printer list: {html.escape(source)}.</p>
{shard}{banner}
<ul>
<li><a href="{path}">{path}</a>: the Prometheus scrape endpoint</li>
<li><a href="/-/healthy">/-/healthy</a>: liveness (also /healthz)</li>
<li><a href="/-/ready">/-/ready</a>: readiness: the printer list was read and every worker answers</li>
</ul>
<h2>Fleet: <span id="up-count">{up}</span> of <span id="printer-count">{len(statuses)}</span> up</h2>
<table id="fleet">
<thead><tr><th>Name</th><th>Serial</th><th>Model</th><th>State</th><th>Up</th>
<th>Last report</th><th>Last error</th></tr></thead>
<tbody>
{body}
</tbody></table>
<p class="muted">As of {html.escape(stamp)}; this page refreshes every 15 s.</p>
</body></html>
"""
