"""docs/running.md: a "Run it" section per path, linked from the README, naming only
flags, variables and files that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import ENVIRONMENT
from exporter.web.healthcheck import HEALTHCHECK_ENVIRONMENT

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[1]
RUNNING = ROOT / "docs" / "running.md"
PATHS = ("pip or pipx", "systemd", "a raspberry pi", "docker compose", "kubernetes")


def _help(*command: str) -> str:
    result = subprocess.run([sys.executable, "-m", "exporter", *command, "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_run_it_section_per_path_linked_from_the_readme() -> None:
    text = RUNNING.read_text()
    headings = [h.lower() for h in re.findall(r"^## (Run it .*)$", text, re.M)]
    for path in PATHS:
        assert any(h.endswith(path) for h in headings), path
    readme = (ROOT / "README.md").read_text()
    for heading in headings:
        anchor = re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")
        assert f"(#{anchor})" in text, anchor   # the table at the top
        if "pip" in heading:
            continue
        assert f"docs/running.md#{anchor}" in readme, anchor


def test_flags_variables_and_files_named_exist() -> None:
    text = RUNNING.read_text()
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z.-]*[a-z])", text))
    known = set(re.findall(r"(--[a-z][a-z.-]*)", _help() + _help("healthcheck")
                           + _help("hms-texts")))
    docker = {"--build-arg", "--profile", "--now", "--from-file", "--probe"}
    assert flags - docker <= known, flags - docker - known
    variables = set(re.findall(r"\b(BAMBU_[A-Z_]*[A-Z])\b(?![*/])", text))
    known_variables = set(ENVIRONMENT.values()) | set(HEALTHCHECK_ENVIRONMENT.values())
    assert variables <= known_variables, variables - known_variables
    for path in re.findall(r"((?:deploy|docker)/[\w./-]+\w)", text):
        assert (ROOT / path).exists(), path
