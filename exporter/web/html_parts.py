"""Pure: what the overview and a printer's page share: escaping, the style sheet (no
script, no external asset), small pieces (progress bar, colour swatch, times) and the
link to a printer's page and to its dashboard.

Everything from a printer or the printer list is escaped here or by the caller: names
come from a database we do not control, texts from a service we do not control.
"""

from __future__ import annotations

import html
import re
import time
from urllib.parse import quote

from exporter.errors import ConfigError


def e(text: str) -> str:
    return html.escape(text, quote=True)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; font-size: 13px; }
h1 { margin: 0 0 .2em; font-size: 1.6em; }
h2 { font-size: 1.15em; margin: 1.2em 0 .4em; }
a { color: #0550ae; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .25em .45em; text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
td.long { overflow-wrap: anywhere; }
th { background: #f3f3f3; }
.n { white-space: nowrap; }
.state-running { color: #1a7f37; font-weight: bold; }
.state-pause, .state-prepare { color: #9a6700; font-weight: bold; }
.state-failed { color: #bc4c00; font-weight: bold; }
.state-offline { color: #cf222e; font-weight: bold; }
.up-no { color: #cf222e; }
.trouble { margin: 0; padding-left: 1.1em; }
.trouble li { margin: 0; }
.fix, .muted, .small { color: #57606a; }
.small { font-size: .9em; }
.bar { display: inline-block; width: 5em; height: .6em; background: #eaeef2;
       vertical-align: middle; margin-right: .3em; }
.bar span { display: block; height: 100%; background: #1a7f37; }
.swatch { display: inline-block; width: .9em; height: .9em; border: 1px solid #888;
          vertical-align: middle; margin-right: .3em; border-radius: 2px; }
.alert { background: #ffebe9; border: 1px solid #cf222e; padding: .5em 1em; }
.summary { font-size: 1.1em; }
.summary a { margin-right: .6em; }
.need { color: #cf222e; font-weight: bold; }
form { margin: .6em 0; }
"""


def bar(ratio: float) -> str:
    percent = round(min(max(ratio, 0.0), 1.0) * 100)
    return (f'<span class="bar"><span style="width:{percent}%"></span></span>'
            f"{percent} %")


_HEX_COLOUR = re.compile(r"[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?")


def swatch(color: str) -> str:
    """A tray's colour (RRGGBBAA as printers send it) as a small square; nothing for a
    value that is not a colour (only validated hex reaches the style attribute)."""
    if not _HEX_COLOUR.fullmatch(color):
        return ""
    return f'<span class="swatch" style="background:#{color[:6]}" title="#{e(color)}"></span>'


def clock(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def duration(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, now - moment)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{duration(seconds)} ago"


def printer_path(serial: str) -> str:
    return "/printer/" + quote(serial, safe="")


# A serial that can name a printer: letters and digits, as printers print them.
_SERIAL = re.compile(r"[0-9A-Za-z]{1,40}")


def valid_serial(text: str) -> bool:
    return _SERIAL.fullmatch(text) is not None


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
DASHBOARD_FIELDS = ("printer", "serial")


def check_dashboard_url(template: str, where: str = "--web.dashboard-url") -> str:
    """A URL template with {printer} and {serial} (ConfigError for anything else)."""
    text = template.strip()
    if not re.match(r"https?://[^\s]+$", text):
        raise ConfigError(f"{where}: {template!r} is not an http:// or https:// URL")
    unknown = [name for name in _PLACEHOLDER.findall(text) if name not in DASHBOARD_FIELDS]
    if unknown or text.count("{") != text.count("}"):
        raise ConfigError(f"{where}: only {{printer}} and {{serial}} may be filled in "
                          f"(found {', '.join(repr(u) for u in unknown) or 'a stray brace'})")
    return text


def dashboard_url(template: str, printer: str, serial: str) -> str:
    """The template with the printer's name and serial filled in, URL-encoded."""
    values = {"printer": quote(printer, safe=""), "serial": quote(serial, safe="")}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
