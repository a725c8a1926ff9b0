"""config.py: flags and environment -> Settings; every bad value names itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config import (
    FLAG,
    FLAGS,
    Flag,
    parse_duration,
    parse_listen_address,
    session_settings,
    settings_from,
)
from exporter.errors import ConfigError
from exporter.printer.session import SessionSettings

pytestmark = pytest.mark.tier("unit")


def test_durations() -> None:
    assert parse_duration("--x", "500ms") == 0.5
    assert parse_duration("--x", "30s") == 30
    assert parse_duration("--x", "5m") == 300
    assert parse_duration("--x", "1h") == 3600
    assert parse_duration("--x", "12") == 12
    with pytest.raises(ConfigError, match="--x: '5 minutes' is not a duration"):
        parse_duration("--x", "5 minutes")


@pytest.mark.parametrize("text, expected", [
    (":9851", ("0.0.0.0", 9851)),
    ("127.0.0.1:80", ("127.0.0.1", 80)),
    ("localhost:9851", ("localhost", 9851)),
    ("[::1]:9851", ("::1", 9851)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address("--web.listen-address", text) == expected


@pytest.mark.parametrize("text", ["9851", "host:", "host:port", ":70000"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ConfigError, match="--web.listen-address"):
        parse_listen_address("--web.listen-address", text)


def test_defaults_with_a_printers_file() -> None:
    settings = settings_from({"printers.file": "p.yaml"}, {})
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9851)
    assert settings.printer.staleness == 60 and settings.printer.pushall_interval == 300
    assert settings.inventory_timeout == 2 and settings.log_level == "info"
    assert settings.database is None and settings.printers_file == "p.yaml"


def test_flag_beats_environment_and_environment_beats_default() -> None:
    env = {"BAMBU_PRINTER_STALENESS": "2m", "BAMBU_WEB_LISTEN_ADDRESS": ":1234",
           "BAMBU_PRINTERS_FILE": "env.yaml", "BAMBU_LOG_LEVEL": "WARN"}
    settings = settings_from({"printer.staleness": "30s"}, env)
    assert settings.printer.staleness == 30
    assert settings.listen_port == 1234
    assert settings.printers_file == "env.yaml"
    assert settings.log_level == "warning"


@pytest.mark.parametrize("flags, env, named", [
    ({"printer.staleness": "soon"}, {}, "--printer.staleness"),
    ({}, {"BAMBU_PRINTER_PUSHALL_INTERVAL": "1s"}, "BAMBU_PRINTER_PUSHALL_INTERVAL"),
    ({"log.level": "loud"}, {}, "--log.level"),
    ({"web.listen-address": "nowhere"}, {}, "--web.listen-address"),
    ({"demo.printers": 0, "demo": True}, {}, "--demo.printers"),
    ({}, {"DB_HOST": "db", "DB_PORT": "fifty"}, "DB_PORT"),
])
def test_each_bad_value_is_named(flags: dict, env: dict, named: str) -> None:
    flags = {"printers.file": "p.yaml", **flags} if "DB_HOST" not in env else flags
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        settings_from(flags, env)


def test_nothing_configured_says_how() -> None:
    with pytest.raises(ConfigError) as error:
        settings_from({}, {})
    text = str(error.value)
    for hint in ("DB_HOST", "--printers.file", "--database-url", "--demo"):
        assert hint in text


def test_file_and_database_together_is_an_error() -> None:
    with pytest.raises(ConfigError, match="choose one"):
        settings_from({"printers.file": "p.yaml"}, {"DB_HOST": "db", "DB_NAME": "farm"})


def test_database_password_from_file_stays_out_of_repr(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-pass\n")
    settings = settings_from({}, {"DB_HOST": "db", "DB_NAME": "familyRewardDb",
                                  "DB_USER": "farm", "DB_PASSWORD_FILE": str(secret)})
    assert settings.database is not None and settings.database["password"] == "s3cret-pass"
    assert settings.database["dbname"] == "familyRewardDb"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_demo_needs_no_database() -> None:
    settings = settings_from({"demo": True}, {})
    assert settings.demo and settings.demo_printers == 12


# ------------------------------------------------------------- --hms.text-file

HMS_TEXTS = Path(__file__).parent / "support" / "hms_texts.json"


def test_hms_text_file_from_flag_or_environment() -> None:
    assert settings_from({"printers.file": "p.yaml"}, {}).hms_text_file is None
    by_flag = settings_from({"printers.file": "p.yaml", "hms.text-file": str(HMS_TEXTS)}, {})
    assert by_flag.hms_text_file == str(HMS_TEXTS)
    by_env = settings_from({"printers.file": "p.yaml"}, {"BAMBU_HMS_TEXT_FILE": str(HMS_TEXTS)})
    assert by_env.hms_text_file == str(HMS_TEXTS)


@pytest.mark.parametrize("flags, env, named", [
    ({"hms.text-file": "/nonexistent/hms.json"}, {}, "--hms.text-file"),
    ({}, {"BAMBU_HMS_TEXT_FILE": "/nonexistent/hms.json"}, "BAMBU_HMS_TEXT_FILE"),
])
def test_a_missing_hms_text_file_is_named(flags: dict, env: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.") + ".*not a file"):
        settings_from({"printers.file": "p.yaml", **flags}, env)


@pytest.mark.parametrize("content, reason", [
    ('{"data": {"device_hms": ', "not valid JSON"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
])
@pytest.mark.tier("e2e")
def test_a_malformed_hms_text_file_stops_start_up(tmp_path: Path, content: str,
                                                  reason: str) -> None:
    bad = tmp_path / "hms.json"
    bad.write_text(content)
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--printers.file", str(printers),
         "--web.listen-address", "127.0.60.1:0", "--hms.text-file", str(bad)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--hms.text-file" in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------- numbers in ASCII digits only

# Each passes str.isdigit() or \d, and int() refuses it ("²") or reads it ("١٢" is 12).
NOT_ASCII = ["²", "١٢", "１２", "3²", "٣s"]
NUMERIC = [
    ("workers", "--workers", "{}"),
    ("web.listen-address", "--web.listen-address", ":{}"),
    ("printer.staleness", "--printer.staleness", "{}"),
    ("printer.pushall-interval", "--printer.pushall-interval", "{}"),
    ("printer.connect-timeout", "--printer.connect-timeout", "{}"),
    ("inventory.timeout", "--inventory.timeout", "{}"),
    ("workers.timeout", "--workers.timeout", "{}"),
    ("shard.count", "--shard.count", "{}"),
    ("shard.index", "--shard.index", "{}"),
    ("demo.printers", "--demo.printers", "{}"),
]


@pytest.mark.parametrize("flag, named, shape", NUMERIC)
@pytest.mark.parametrize("digits", NOT_ASCII)
def test_numeric_flags_take_ascii_digits_only(flag: str, named: str, shape: str,
                                              digits: str) -> None:
    flags = {"printers.file": "p.yaml", flag: shape.format(digits)}
    if flag == "shard.index":
        flags["shard.count"] = "20"
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        settings_from(flags, {"HOSTNAME": "exporter"})


@pytest.mark.parametrize("digits", NOT_ASCII)
def test_numeric_variables_take_ascii_digits_only(digits: str) -> None:
    for variable in ("BAMBU_WORKERS", "BAMBU_WORKERS_TIMEOUT", "BAMBU_SHARD_COUNT",
                     "BAMBU_PRINTER_STALENESS"):
        with pytest.raises(ConfigError, match=variable):
            settings_from({"printers.file": "p.yaml"}, {variable: digits})
    with pytest.raises(ConfigError, match="DB_PORT"):
        settings_from({}, {"DB_HOST": "db", "DB_PORT": digits})


@pytest.mark.tier("e2e")
def test_workers_flag_with_a_superscript_is_the_flag_error(tmp_path: Path) -> None:
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--printers.file", str(printers),
         "--web.listen-address", "127.0.60.1:0", "--workers", "²"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "bambu-exporter: error: --workers: '²' is not a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_timeout_from_flag_or_environment() -> None:
    assert settings_from({"printers.file": "p.yaml"}, {}).workers_timeout == 3.0
    assert settings_from({"printers.file": "p.yaml", "workers.timeout": "500ms"},
                         {}).workers_timeout == 0.5
    assert settings_from({"printers.file": "p.yaml"},
                         {"BAMBU_WORKERS_TIMEOUT": "2s"}).workers_timeout == 2.0
    with pytest.raises(ConfigError, match=r"--workers\.timeout: '10ms' is too short"):
        settings_from({"printers.file": "p.yaml", "workers.timeout": "10ms"}, {})


def test_a_bad_ca_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    for flags, env, named in (({"printer.ca-file": str(bad)}, {}, "--printer.ca-file"),
                              ({}, {"BAMBU_PRINTER_CA_FILE": str(bad)}, "BAMBU_PRINTER_CA_FILE"),
                              ({"printer.ca-file": str(tmp_path / "missing.pem")}, {},
                               "--printer.ca-file")):
        with pytest.raises(ConfigError, match=named):
            settings_from({"printers.file": "p.yaml", **flags}, env)


# ---- exporter conventions: repeated listen addresses, telemetry path, log format

def test_listen_address_repeats_and_the_variable_takes_a_list() -> None:
    settings = settings_from({"printers.file": "p.yaml",
                              "web.listen-address": ["127.0.0.1:1", "[::1]:2"]}, {})
    assert settings.addresses == (("127.0.0.1", 1), ("::1", 2))
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 1)
    by_env = settings_from({"printers.file": "p.yaml"},
                           {"BAMBU_WEB_LISTEN_ADDRESS": "127.0.0.1:1, :2"})
    assert by_env.addresses == (("127.0.0.1", 1), ("0.0.0.0", 2))
    with pytest.raises(ConfigError, match="--web.listen-address: ':2' is given twice"):
        settings_from({"printers.file": "p.yaml", "web.listen-address": [":2", ":2"]}, {})


@pytest.mark.parametrize(("path", "error"), [
    ("metrics", "not a URL path"), ("/a b", "not a URL path"), ("/-/ready", "served by"),
    ("/", "served by"), ("/healthz", "served by")])
def test_bad_telemetry_paths(path: str, error: str) -> None:
    with pytest.raises(ConfigError, match=f"--web.telemetry-path: .*{error}"):
        settings_from({"printers.file": "p.yaml", "web.telemetry-path": path}, {})


def test_telemetry_path_and_log_format_from_flags_and_variables() -> None:
    settings = settings_from({"printers.file": "p.yaml"}, {})
    assert (settings.telemetry_path, settings.log_format) == ("/metrics", "text")
    settings = settings_from({"printers.file": "p.yaml"}, {"BAMBU_WEB_TELEMETRY_PATH": "/m",
                                                           "BAMBU_LOG_FORMAT": "JSON"})
    assert (settings.telemetry_path, settings.log_format) == ("/m", "json")
    with pytest.raises(ConfigError, match="BAMBU_LOG_FORMAT: 'yaml' is not one of text, "
                                          "logfmt, json"):
        settings_from({"printers.file": "p.yaml"}, {"BAMBU_LOG_FORMAT": "yaml"})


def test_printer_ftps_is_on_unless_turned_off() -> None:
    assert settings_from({"printers.file": "p.yaml"}, {}).printer.ftps is True
    assert settings_from({"printers.file": "p.yaml", "printer.ftps": False}, {}).printer.ftps is False
    assert settings_from({"printers.file": "p.yaml"}, {"BAMBU_PRINTER_FTPS": "false"}).printer.ftps is False
    with pytest.raises(ConfigError, match="BAMBU_PRINTER_FTPS"):
        settings_from({"printers.file": "p.yaml"}, {"BAMBU_PRINTER_FTPS": "maybe"})


def test_filament_prices_are_checked_at_start(tmp_path) -> None:  # noqa: ANN001
    good = tmp_path / "prices.yaml"
    good.write_text("currency: EUR\nprices: {PLA: 20}\n")
    assert settings_from({"printers.file": "p.yaml", "filament.prices": str(good)},
                         {}).printer.filament_prices == str(good)
    bad = tmp_path / "bad.yaml"
    bad.write_text("currency: EUR\nprices: {PLA: -1}\n")
    with pytest.raises(ConfigError, match="--filament.prices: .*not a price"):
        settings_from({"printers.file": "p.yaml", "filament.prices": str(bad)}, {})


def test_plate_waiting_threshold_from_flag_or_environment() -> None:
    assert settings_from({"printers.file": "p.yaml"}, {}).plate_waiting == 900.0
    assert settings_from({"printers.file": "p.yaml", "attention.plate-waiting": "1h"},
                         {}).plate_waiting == 3600.0
    assert settings_from({"printers.file": "p.yaml"},
                         {"BAMBU_ATTENTION_PLATE_WAITING": "30m"}).plate_waiting == 1800.0
    with pytest.raises(ConfigError, match=r"BAMBU_ATTENTION_PLATE_WAITING: 'soon' is not a "):
        settings_from({"printers.file": "p.yaml"}, {"BAMBU_ATTENTION_PLATE_WAITING": "soon"})
    with pytest.raises(ConfigError, match=r"--attention\.plate-waiting: '10ms' is too short"):
        settings_from({"printers.file": "p.yaml", "attention.plate-waiting": "10ms"}, {})


# ------------------------------------------------------------- --web.dashboard-url

def test_dashboard_url_template_from_flag_or_environment() -> None:
    url = "https://grafana.example/d/bambu?var-printer={printer}&var-serial={serial}"
    assert settings_from({"printers.file": "p.yaml", "web.dashboard-url": url},
                         {}).dashboard_url == url
    assert settings_from({"printers.file": "p.yaml"},
                         {"BAMBU_WEB_DASHBOARD_URL": url}).dashboard_url == url
    assert settings_from({"printers.file": "p.yaml"}, {}).dashboard_url == ""


@pytest.mark.parametrize("url, reason", [
    ("javascript:alert(1)", "not an http:// or https:// URL"),
    ("https://g.example/d?x={ip}", "'ip'"),
    ("https://g.example/d?x={printer", "a stray brace"),
])
def test_a_bad_dashboard_url_is_named(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=r"--web\.dashboard-url") as caught:
        settings_from({"printers.file": "p.yaml", "web.dashboard-url": url}, {})
    assert reason in str(caught.value)


# ---- each flag declared once (FLAGS): the parser, the variables, --help and the README
README = Path(__file__).resolve().parents[1] / "README.md"


def readme_rows() -> dict[str, str]:
    """The README's flag table: first `--flag` of each row -> the row."""
    rows = {}
    for line in README.read_text().splitlines():
        if line.startswith("| `--"):
            name = line.split("`")[1].split()[0].removeprefix("--")
            rows[name] = line
    return rows


@pytest.mark.parametrize("flag", FLAGS, ids=lambda flag: flag.name)
def test_every_declared_flag_is_in_the_readme_with_its_variable_and_default(flag: Flag) -> None:
    rows = readme_rows()
    table = "\n".join(rows.values())
    assert f"`--{flag.name}" in table
    row = rows.get(flag.name)
    if row is None:   # a sub-flag named in its parent's row (--demo.printers in --demo's)
        return
    assert (f"`{flag.env}`" in row) == (flag.env is not None), row
    shown = flag.default_text
    if shown and shown.startswith("default ") and shown != "default on":
        assert f"`{shown.removeprefix('default ')}`" in row.split("|")[3], row


def test_every_readme_row_is_a_declared_flag() -> None:
    assert set(readme_rows()) <= {flag.name for flag in FLAGS}


def test_help_comes_from_the_table() -> None:
    from exporter.cli import build_parser
    text = "".join(build_parser("serve").format_help().split())   # wrapped anywhere
    for flag in FLAGS:
        assert f"--{flag.name}" in text
        assert "".join(flag.help_text.split()) in text, flag.name
    assert FLAG["printer.staleness"].help_text.endswith(
        "(default 60s) (env BAMBU_PRINTER_STALENESS)")


def test_printer_defaults_are_the_session_settings_defaults() -> None:
    settings = settings_from({"printers.file": "p.yaml"}, {})
    assert settings.printer == SessionSettings()
    assert FLAG["printer.pushall-interval"].shown == "default 5m"


def test_session_settings_read_only_the_flags_asked_for() -> None:
    # probe offers two printer flags: a bad value of another one's variable is not its concern
    environ = {"BAMBU_PRINTER_STALENESS": "soon", "BAMBU_PRINTER_CONNECT_TIMEOUT": "2s"}
    settings = session_settings({}, environ, only=("printer.connect-timeout",))
    assert settings == SessionSettings(connect_timeout=2.0)
    with pytest.raises(ConfigError, match="BAMBU_PRINTER_STALENESS: 'soon'"):
        session_settings({}, environ)
