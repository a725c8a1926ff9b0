"""--web.config.file: what a good file gives, and a clear start-up error for each bad one."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.config import settings_from
from exporter.errors import ConfigError
from exporter.http_server.web_config import load_web_config
from tests.support.pki import KeyPair, bcrypt_hash

pytestmark = pytest.mark.tier("e2e")   # certificates made with openssl

PASSWORD = "correct horse battery"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def tls_yaml(pki: dict[str, KeyPair], extra: str = "") -> str:
    return (f"tls_server_config:\n  cert_file: {pki['server'].cert}\n"
            f"  key_file: {pki['server'].key}\n{extra}")


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    return str(caught.value)


def test_a_full_file_gives_a_tls_context_and_users(tmp_path: Path,
                                                   pki: dict[str, KeyPair]) -> None:
    path = write(tmp_path, tls_yaml(pki, f"  min_version: TLS13\n"
                                         f"  client_auth_type: RequireAndVerifyClientCert\n"
                                         f"  client_ca_file: {pki['ca'].cert}\n")
                 + f"basic_auth_users:\n  prometheus: '{bcrypt_hash(PASSWORD)}'\n")
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.tls.verify_mode == ssl.CERT_REQUIRED
    assert set(config.users) == {"prometheus"}
    assert path in config.files and pki["server"].cert in config.files


def test_relative_paths_are_relative_to_the_file(tmp_path: Path,
                                                 pki: dict[str, KeyPair]) -> None:
    directory = pki["server"].cert.parent
    path = directory / "relative.yml"
    path.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    assert load_web_config(path).tls is not None


def test_an_empty_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    config = load_web_config(write(tmp_path, ""))
    assert config.tls is None and config.users == {}


@pytest.mark.parametrize("text, expected", [
    ("tls_server_config: [unclosed", "not valid YAML at line 1"),
    ("- a list\n", "expected a mapping"),
    ("tls_server_confg:\n  cert_file: x\n", "unknown key 'tls_server_confg'"),
    ("http_server_config:\n  http2: false\n", "http_server_config is not supported"),
    ("tls_server_config:\n  key_file: x.key\n", "tls_server_config.cert_file is required"),
    ("basic_auth_users: [alice]\n", "basic_auth_users must be a mapping"),
])
def test_malformed_files_name_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, text))
    assert message.startswith(f"--web.config.file {tmp_path / 'web.yml'}: "), message
    assert expected in message, message


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    assert "cannot read: No such file or directory" in error_of(tmp_path / "absent.yml")


@pytest.mark.parametrize("extra, expected", [
    ("  cert_fille: x\n", "unknown key 'tls_server_config.cert_fille'"),
    ("  min_version: TLS14\n", "min_version 'TLS14' is not one of TLS10, TLS11, TLS12, TLS13"),
    ("  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file"),
    ("  client_auth_type: RequireAnyClientCert\n", "RequireAnyClientCert is not supported"),
    ("  client_auth_type: Sometimes\n", "client_auth_type 'Sometimes' is not one of"),
    ("  client_ca_file: /etc/hostname\n", "client_ca_file is set but client_auth_type is "
                                          "NoClientCert"),
    ("  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "cipher_suites is not supported"),
])
def test_bad_tls_settings_name_the_key(tmp_path: Path, pki: dict[str, KeyPair],
                                       extra: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, tls_yaml(pki, extra)))


def test_unreadable_or_wrong_certificate_files(tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    message = error_of(write(tmp_path, f"tls_server_config:\n  cert_file: {garbage}\n"
                                       f"  key_file: {pki['server'].key}\n"))
    assert f"cert_file {garbage}" in message and "not a matching PEM" in message
    message = error_of(write(tmp_path, f"tls_server_config:\n  cert_file: {pki['server'].cert}\n"
                                       f"  key_file: {tmp_path / 'nope.key'}\n"))
    assert f"key_file {tmp_path / 'nope.key'}: no such file" in message
    message = error_of(write(tmp_path, tls_yaml(pki, "  client_auth_type: VerifyClientCertIfGiven"
                                                     f"\n  client_ca_file: {garbage}\n")))
    assert f"client_ca_file {garbage}: not a readable PEM certificate" in message


def test_a_password_instead_of_a_hash_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "basic_auth_users:\n  alice: hunter2-plain\n"))
    assert "basic_auth_users.alice: not a bcrypt hash" in message
    assert "hunter2" not in message


def test_the_cli_stops_on_a_bad_file_naming_the_flag(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers: []\n")
    bad = write(tmp_path, "basic_auth_users:\n  alice: secret\n")
    assert main(["--printers.file", str(printers), "--web.config.file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"--web.config.file {bad}: basic_auth_users.alice: not a bcrypt hash" in err


def test_the_environment_variable_sets_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "nonsense: 1\n")
    environ = {"BAMBU_WEB_CONFIG_FILE": str(bad)}
    with pytest.raises(ConfigError, match="^BAMBU_WEB_CONFIG_FILE .*unknown key 'nonsense'"):
        settings_from({"printers.file": "p.yaml"}, environ)
    good = write(tmp_path, "")
    settings = settings_from({"printers.file": "p.yaml"}, {"BAMBU_WEB_CONFIG_FILE": str(good)})
    assert settings.web_config_file == str(good)
