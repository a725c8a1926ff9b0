"""version.py: the revision from a REVISION file, a git checkout, or "unknown"; the
`--version` text names Python and every dependency."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from exporter import __version__
from exporter.version import DEPENDENCIES, dependency_version, revision, version_text

pytestmark = pytest.mark.tier("unit")


def test_a_revision_file_wins(tmp_path: Path) -> None:
    package = tmp_path / "exporter"
    package.mkdir()
    (package / "REVISION").write_text("0123456789ABCDEF0123\n")
    assert revision(package) == "0123456789ab"


def test_a_revision_file_that_is_not_hex_is_not_believed(tmp_path: Path) -> None:
    package = tmp_path / "exporter"
    package.mkdir()
    (package / "REVISION").write_text("$(rm -rf /)\n")
    assert revision(package) == "unknown"


@pytest.mark.tier("e2e")
def test_the_git_checkout_gives_the_revision(tmp_path: Path) -> None:
    git = shutil.which("git")
    assert git, "git missing"
    package = tmp_path / "exporter"
    package.mkdir()
    (package / "x.py").write_text("")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path)}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run([git, "-C", str(tmp_path), *args], check=True, env=env)
    head = subprocess.run([git, "-C", str(tmp_path), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True, env=env).stdout.strip()
    assert revision(package) == head[:12]


def test_no_file_and_no_checkout_is_unknown(tmp_path: Path) -> None:
    package = tmp_path / "exporter"
    package.mkdir()
    assert revision(package) == "unknown"


def test_version_text_names_version_revision_python_and_dependencies() -> None:
    text = version_text("abcdef012345")
    assert text.splitlines()[0] == f"bambu-exporter, version {__version__} (revision: abcdef012345)"
    assert f"python: {platform.python_version()}" in text
    for name in DEPENDENCIES:
        assert f"{name}: {dependency_version(name)}" in text
        assert dependency_version(name) != "not installed"
