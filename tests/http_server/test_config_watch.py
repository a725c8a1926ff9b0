"""The web config reload: a change is applied once settled, read off the event loop, and
never lowers security (a truncated or half-written file keeps TLS and auth on). Pure: the
tests call look() themselves, as the watcher's thread does once a second."""

from __future__ import annotations

import logging
import os
import ssl
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.errors import ConfigError
from exporter.http_server.config_watch import WebConfigWatcher
from exporter.http_server.server_core import ServerCore, ServerLimits
from exporter.http_server.server_metrics import WebServerCollector
from exporter.http_server.web_config import MAX_FILE_BYTES
from tests.support.pki import KeyPair, bcrypt_hash

pytestmark = pytest.mark.tier("e2e")   # certificates made with openssl

PASSWORD = "correct horse battery"


def tls(pki: dict[str, KeyPair], extra: str = "") -> str:
    return (f"tls_server_config:\n  cert_file: {pki['server'].cert}\n"
            f"  key_file: {pki['server'].key}\n{extra}")


def users(name: str = "alice") -> str:
    return f"basic_auth_users:\n  {name}: '{bcrypt_hash(PASSWORD)}'\n"


def settled(watcher: WebConfigWatcher) -> None:
    """Two looks: what the thread does over two seconds with the file left alone."""
    watcher.look()
    watcher.look()


def test_a_change_is_applied_only_once_it_has_settled(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(users("alice"))
    watcher = WebConfigWatcher(str(path))
    path.write_text(users("bob"))
    watcher.look()   # first sight of the change: not yet
    assert set(watcher.current().users) == {"alice"}
    path.write_text(users("carol") + "\n")   # still being written
    watcher.look()
    assert set(watcher.current().users) == {"alice"}
    watcher.look()   # unchanged since the last look: applied
    assert set(watcher.current().users) == {"carol"}
    assert watcher.reloads == 1 and watcher.last_ok and watcher.failures == 0


def test_a_change_that_does_not_load_keeps_the_last_good_config(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "web.yml"
    path.write_text(users("alice"))
    watcher = WebConfigWatcher(str(path))
    path.write_text("basic_auth_users:\n  alice: [broken\n")
    for _ in range(5):
        watcher.look()
    assert set(watcher.current().users) == {"alice"}
    assert caplog.text.count("does not load, keeping the last good one") == 1
    assert watcher.failures == 1 and not watcher.last_ok
    path.write_text(users("bob"))
    settled(watcher)
    assert set(watcher.current().users) == {"bob"} and watcher.reloads == 1 and watcher.last_ok


def test_an_in_place_truncation_keeps_tls_and_basic_auth(
        tmp_path: Path, pki: dict[str, KeyPair], caplog: pytest.LogCaptureFixture) -> None:
    # An editor that truncates before it writes: the empty file would mean plain HTTP
    # without auth. Left empty (the editor died), it is refused, not served.
    path = tmp_path / "web.yml"
    path.write_text(tls(pki) + users())
    watcher = WebConfigWatcher(str(path))
    with path.open("r+") as file:
        file.truncate(0)
    settled(watcher)
    settled(watcher)
    config = watcher.current()
    assert config.tls is not None and set(config.users) == {"alice"}
    assert watcher.failures == 1 and not watcher.last_ok and watcher.reloads == 0
    assert "would turn off TLS, turn off basic auth: refused" in caplog.text
    assert "lowering security takes a restart" in caplog.text
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_a_tls_only_rewrite_keeps_basic_auth(tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    path = tmp_path / "web.yml"
    path.write_text(tls(pki) + users())
    watcher = WebConfigWatcher(str(path))
    path.write_text(tls(pki))
    settled(watcher)
    assert set(watcher.current().users) == {"alice"} and watcher.failures == 1
    path.write_text(tls(pki) + users("bob"))   # the rest of the write arrives: applied
    settled(watcher)
    assert set(watcher.current().users) == {"bob"} and watcher.last_ok


@pytest.mark.parametrize("before, after, what", [
    ("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca}\n",
     "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {ca}\n",
     "loosen client certificate checks"),
    ("  min_version: TLS13\n", "", "lower the minimum TLS version"),
])
def test_loosening_tls_is_refused(tmp_path: Path, pki: dict[str, KeyPair],
                                  caplog: pytest.LogCaptureFixture,
                                  before: str, after: str, what: str) -> None:
    ca = pki["ca"].cert
    path = tmp_path / "web.yml"
    path.write_text(tls(pki, before.format(ca=ca)))
    watcher = WebConfigWatcher(str(path))
    old = watcher.current().tls
    path.write_text(tls(pki, after.format(ca=ca)))
    settled(watcher)
    assert watcher.current().tls is old and f"would {what}: refused" in caplog.text


def test_raising_security_is_applied(tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    path = tmp_path / "web.yml"
    path.write_text("")
    watcher = WebConfigWatcher(str(path))
    path.write_text(users())
    settled(watcher)
    assert set(watcher.current().users) == {"alice"}
    path.write_text(tls(pki, "  min_version: TLS13\n") + users())
    settled(watcher)
    context = watcher.current().tls
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert watcher.reloads == 2 and watcher.failures == 0


def test_a_fifo_in_the_files_place_is_refused_without_waiting_for_a_writer(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "web.yml"
    path.write_text(users())
    watcher = WebConfigWatcher(str(path))
    path.unlink()
    os.mkfifo(path)
    looked = threading.Event()

    def look() -> None:
        settled(watcher)
        looked.set()

    threading.Thread(target=look, daemon=True).start()
    try:
        assert looked.wait(10), "a look blocked on the FIFO"
    finally:
        if not looked.is_set():   # release the reader so the test run can end
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert set(watcher.current().users) == {"alice"}
    assert "not a regular file" in caplog.text and watcher.failures == 1
    with pytest.raises(ConfigError,
                       match=r"cannot read: a FIFO \(named pipe\), not a regular file"):
        WebConfigWatcher(str(path))   # and at start-up: the flag error, no hang


def test_a_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(users())
    watcher = WebConfigWatcher(str(path))
    path.write_text(users() + "#" * MAX_FILE_BYTES + "\n")
    settled(watcher)
    assert watcher.failures == 1 and set(watcher.current().users) == {"alice"}
    with pytest.raises(ConfigError, match=f"more than {MAX_FILE_BYTES} bytes"):
        WebConfigWatcher(str(path))


def test_a_certificate_replaced_by_a_fifo_is_refused(tmp_path: Path,
                                                     pki: dict[str, KeyPair]) -> None:
    path = tmp_path / "web.yml"
    cert = tmp_path / "live.crt"
    cert.write_bytes(pki["server"].cert.read_bytes())
    path.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {pki['server'].key}\n")
    watcher = WebConfigWatcher(str(path))
    old = watcher.current().tls
    cert.unlink()
    os.mkfifo(cert)
    settled(watcher)
    assert watcher.current().tls is old and watcher.failures == 1


def test_the_reload_series_say_when_a_change_was_refused(tmp_path: Path,
                                                        pki: dict[str, KeyPair]) -> None:
    path = tmp_path / "web.yml"
    path.write_text(tls(pki) + users())
    watcher = WebConfigWatcher(str(path))
    core = ServerCore(lambda e, s: [], "127.0.0.1", 0, ServerLimits(), watcher)
    registry = CollectorRegistry()
    registry.register(WebServerCollector(core))

    def exposition() -> str:
        return generate_latest(registry).decode()

    assert "bambu_exporter_web_config_last_reload_successful 1.0" in exposition()
    path.write_text("")
    settled(watcher)
    text = exposition()
    assert "bambu_exporter_web_config_last_reload_successful 0.0" in text
    assert "bambu_exporter_web_config_reload_failures_total 1.0" in text
    path.write_text(tls(pki) + users("bob"))
    settled(watcher)
    assert "bambu_exporter_web_config_last_reload_successful 1.0" in exposition()
    core.executor.shutdown()
    core.auth_executor.shutdown()
