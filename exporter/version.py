"""What this build is: version, source revision, Python and the dependencies' versions,
for `--version` and bambu_exporter_build_info.

The revision comes from a REVISION file beside this module (an image or package build
writes it from the commit it builds), else from the git checkout the package runs from,
else "unknown". Read once at start-up; a scrape never runs git.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from exporter import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
# The distributions whose versions decide behaviour, as pip names them.
DEPENDENCIES = ("bambulabs_api", "prometheus_client", "paho-mqtt", "psycopg2-binary",
                "PyYAML", "bcrypt", "orjson")
_REVISION_CHARS = frozenset("0123456789abcdef")


def revision(package_dir: Path = PACKAGE_DIR) -> str:
    """The source revision (12 hex digits, "-dirty" never added), or "unknown"."""
    try:
        written = (package_dir / "REVISION").read_text(encoding="ascii").strip().lower()
    except (OSError, UnicodeDecodeError):
        written = ""
    if written and set(written) <= _REVISION_CHARS:
        return written[:12]
    checkout = package_dir.parent
    if not (checkout / ".git").exists():
        return "unknown"
    try:
        done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = done.stdout.strip().lower()
    return found if done.returncode == 0 and found and set(found) <= _REVISION_CHARS \
        else "unknown"


def dependency_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_text(revision_text: str | None = None) -> str:
    """The `--version` answer: one fact per line."""
    rev = revision() if revision_text is None else revision_text
    lines = [f"bambu-exporter, version {__version__} (revision: {rev})",
             f"  python: {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.machine() or 'unknown machine'})"]
    lines += [f"  {name}: {dependency_version(name)}" for name in DEPENDENCIES]
    return "\n".join(lines)
