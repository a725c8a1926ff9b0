"""Settings from flags, environment and files. Every bad value is a clear error."""

from __future__ import annotations

import re


class ConfigError(ValueError):
    """A bad flag, variable or file; the message names it. Start-up stops on it."""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(name: str, text: str) -> float:
    """'500ms', '30s', '5m', '1h' or plain seconds -> seconds. `name` is the flag."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"{name}: {text!r} is not a duration (examples: 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
