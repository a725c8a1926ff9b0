"""deploy/systemd/: the units pass systemd's own checks (`systemd-analyze verify`, with
any warning a failure, and `systemd-analyze security`), the service takes its socket
from the .socket unit and its password as a credential, and the environment file names
only variables the exporter reads. Serving on a socket handed over this way is tested
in tests/http_server/test_systemd_socket.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import ENVIRONMENT

pytestmark = pytest.mark.tier("e2e")

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
EXEC = "/usr/local/bin/bambu-exporter"   # where `pipx install` puts it with PIPX_BIN_DIR


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze missing: ./scripts/system-deps installs systemd"
    return found


def directives(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units as shipped, but for ExecStart pointing at this checkout's console script
    (verify checks that the command exists and is executable)."""
    script = Path(sys.executable).parent / "bambu-exporter"
    assert script.exists(), script
    for name in ("bambu-exporter.service", "bambu-exporter-hms-texts.service"):
        service = (UNITS / name).read_text()
        assert service.count(f"ExecStart={EXEC} ") == 1
        (tmp_path / name).write_text(service.replace(EXEC, str(script)))
    shutil.copy(UNITS / "bambu-exporter.socket", tmp_path)
    shutil.copy(UNITS / "bambu-exporter-hms-texts.timer", tmp_path)
    return tmp_path


def test_systemd_analyze_verify_passes_without_a_warning(units: Path) -> None:
    result = subprocess.run([systemd_analyze(), "verify", str(units / "bambu-exporter.service"),
                             str(units / "bambu-exporter.socket"),
                             str(units / "bambu-exporter-hms-texts.service"),
                             str(units / "bambu-exporter-hms-texts.timer")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_a_misspelt_directive_is_caught(units: Path) -> None:
    # the check above can fail: verify reports what it does not know
    broken = units / "bambu-exporter.service"
    broken.write_text(broken.read_text().replace("ProtectSystem=", "ProtectSystm="))
    result = subprocess.run([systemd_analyze(), "verify", str(broken)],
                            capture_output=True, text=True, timeout=60)
    assert "Unknown key 'ProtectSystm'" in result.stderr


def test_the_service_is_hardened(units: Path) -> None:
    result = subprocess.run([systemd_analyze(), "security", "--offline=true",
                             str(units / "bambu-exporter.service")],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for bambu-exporter.service: (\d+\.\d+) (\w+)",
                      result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    # 0 (everything locked) .. 10; a service as this one can be at "OK" (below 2)
    assert float(match[1]) < 2.0, result.stdout
    service = directives("bambu-exporter.service")
    for key, value in (("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                       ("NoNewPrivileges", "yes")):
        assert service[key] == [value]


def test_the_socket_and_the_credential_are_wired(units: Path) -> None:
    service = directives("bambu-exporter.service")
    assert service["ExecStart"] == [f"{EXEC} --web.systemd-socket"]
    assert "bambu-exporter.socket" in service["Requires"][0]
    socket = directives("bambu-exporter.socket")
    assert socket["ListenStream"] == ["9851"]
    # the password: a credential, read through $CREDENTIALS_DIRECTORY (%d)
    credential = service["LoadCredential"][0]
    name, _, source = credential.partition(":")
    assert source.startswith("/etc/bambu-exporter/")
    assert f"DB_PASSWORD_FILE=%d/{name}" in service["Environment"]
    env_file = (UNITS / "bambu-exporter.env.example").read_text()
    assert "DB_PASSWORD=" not in env_file


def test_the_environment_file_names_real_variables() -> None:
    text = (UNITS / "bambu-exporter.env.example").read_text()
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.M)
    known = set(ENVIRONMENT.values()) | {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER",
                                         "DB_PASSWORD_FILE"}
    assert names and set(names) <= known, set(names) - known


def test_the_texts_are_fetched_by_a_hardened_timer_into_the_file_the_exporter_reads(
        units: Path) -> None:
    fetch = directives("bambu-exporter-hms-texts.service")
    exporter = directives("bambu-exporter.service")
    assert fetch["Type"] == ["oneshot"]
    assert fetch["ExecStart"] == [f"{EXEC} hms-texts fetch"]
    # the same file, in the state directory both units share
    text_file = "BAMBU_HMS_TEXT_FILE=%S/bambu-exporter/hms-texts.json"
    assert text_file in fetch["Environment"] and text_file in exporter["Environment"]
    assert fetch["StateDirectory"] == exporter["StateDirectory"] == ["bambu-exporter"]
    # the printer list as the exporter reads it
    assert fetch["EnvironmentFile"] == exporter["EnvironmentFile"]
    assert fetch["LoadCredential"] == exporter["LoadCredential"]
    timer = directives("bambu-exporter-hms-texts.timer")
    assert timer["OnBootSec"] and timer["OnUnitActiveSec"] == ["1w"]
    assert timer["WantedBy"] == ["timers.target"]
    result = subprocess.run([systemd_analyze(), "security", "--offline=true",
                             str(units / "bambu-exporter-hms-texts.service")],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for bambu-exporter-hms-texts.service: "
                      r"(\d+\.\d+)", result.stdout + result.stderr)
    assert match and float(match[1]) < 2.0, result.stdout + result.stderr
