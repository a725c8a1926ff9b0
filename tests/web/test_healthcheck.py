"""`bambu-exporter healthcheck` (the probe of containers and pods) against a running
exporter with plain HTTP, basic auth, TLS and mutual TLS on: it passes where a probe
should, and fails (exit 1, one line saying why) where it must. The command runs as a
subprocess, as Docker and Kubernetes run it. Servers on 127.0.165.x.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.cli import Exporter
from exporter.config import Settings
from exporter.http_server.server import WebServer
from exporter.web.app import make_app
from tests.support.e2e import REPO, clean_env
from tests.support.pki import KeyPair, bcrypt_hash, make_ca, make_signed

pytestmark = pytest.mark.tier("e2e")

HOST = "127.0.165.1"
USER, PASSWORD = "probe", "pr0be-pass-word"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {"ca": ca, "server": make_signed(directory, ca, "server", "serverAuth"),
            "other": make_signed(directory, make_ca(directory, "other-ca"), "other",
                                 "serverAuth"),
            "client": make_signed(directory, ca, "client", "clientAuth", sans="DNS:probe")}


def web_config(tmp_path: Path, pki: dict[str, KeyPair], tls: bool, auth: bool,
               mutual: bool = False, cert: str = "server", name: str = "web.yml") -> Path:
    text = ""
    if tls:
        text += (f"tls_server_config:\n  cert_file: {pki[cert].cert}\n"
                 f"  key_file: {pki[cert].key}\n")
        if mutual:
            text += (f"  client_auth_type: RequireAndVerifyClientCert\n"
                     f"  client_ca_file: {pki['ca'].cert}\n")
    if auth:
        text += f"basic_auth_users:\n  {USER}: '{bcrypt_hash(PASSWORD)}'\n"
    path = tmp_path / name
    path.write_text(text)
    return path


def start_exporter(tmp_path: Path, config: Path | None) -> Exporter:
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers:\n")
    exporter = Exporter(Settings(listen_host=HOST, listen_port=0, printers_file=str(printers),
                                 web_config_file=str(config) if config else None))
    exporter.start()
    return exporter


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "probe-password"
    path.write_text(PASSWORD + "\n")   # a trailing newline, as editors and `echo` leave it
    return path


def healthcheck(port: int, *args: str, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    # The listen address comes as the variable, as in a container's HEALTHCHECK.
    return subprocess.run(
        [sys.executable, "-m", "exporter", "healthcheck", *args], cwd=REPO,
        env=clean_env({"BAMBU_WEB_LISTEN_ADDRESS": f"{HOST}:{port}", **(env or {})}),
        capture_output=True, text=True, timeout=60)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        exporter.stop()


def test_plain_http_ready_and_healthy(tmp_path: Path, running: list[Exporter]) -> None:
    exporter = start_exporter(tmp_path, None)
    running.append(exporter)
    port = exporter.web.port
    for probe in ("ready", "healthy"):
        result = healthcheck(port, "--probe", probe)
        assert result.returncode == 0, result.stderr
        path = "/-/ready" if probe == "ready" else "/-/healthy"
        assert result.stdout.strip() == (f"healthcheck: http://{HOST}:{port}{path}: 200 "
                                         f"{'Ready' if probe == 'ready' else 'Healthy'}")


def test_not_ready_is_exit_1(tmp_path: Path) -> None:
    app = make_app(CollectorRegistry(), list, "test", ready=lambda: "the list was never read")
    server = WebServer(app, HOST, 0)
    server.start()
    try:
        result = healthcheck(server.port)
        assert result.returncode == 1
        assert "503 Not ready: the list was never read" in result.stderr
        assert healthcheck(server.port, "--probe", "healthy").returncode == 0
    finally:
        server.stop()


def test_nothing_listening_is_exit_1() -> None:
    result = healthcheck(1)
    assert result.returncode == 1
    assert f"http://{HOST}:1/-/ready: Connection refused" in result.stderr


def test_tls_and_basic_auth(tmp_path: Path, pki: dict[str, KeyPair], password_file: Path,
                            running: list[Exporter]) -> None:
    config = web_config(tmp_path, pki, tls=True, auth=True)
    exporter = start_exporter(tmp_path, config)
    running.append(exporter)
    port = exporter.web.port
    env = {"BAMBU_WEB_CONFIG_FILE": str(config)}
    missing = healthcheck(port, env=env)
    assert missing.returncode == 1 and "--healthcheck.password-file" in missing.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it")
    refused = healthcheck(port, "--healthcheck.password-file", str(wrong), env=env)
    assert refused.returncode == 1 and ": 401" in refused.stderr
    ok = healthcheck(port, env={**env, "BAMBU_HEALTHCHECK_PASSWORD_FILE": str(password_file)})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"healthcheck: https://{HOST}:{port}/-/ready: 200")
    # the password goes nowhere but the request
    assert PASSWORD not in ok.stdout + ok.stderr + refused.stderr + missing.stderr


def test_the_probe_trusts_only_the_servers_own_certificate(
        tmp_path: Path, pki: dict[str, KeyPair], running: list[Exporter]) -> None:
    served = web_config(tmp_path, pki, tls=True, auth=False)
    exporter = start_exporter(tmp_path, served)
    running.append(exporter)
    # a web config naming another certificate than the one served: a server in the middle
    other = web_config(tmp_path, pki, tls=True, auth=False, cert="other", name="other.yml")
    result = healthcheck(exporter.web.port, "--web.config.file", str(other))
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr or "certificate verify" in result.stderr
    assert healthcheck(exporter.web.port, "--web.config.file", str(served)).returncode == 0


def test_mutual_tls_with_basic_auth(tmp_path: Path, pki: dict[str, KeyPair],
                                    password_file: Path, running: list[Exporter]) -> None:
    config = web_config(tmp_path, pki, tls=True, auth=True, mutual=True)
    exporter = start_exporter(tmp_path, config)
    running.append(exporter)
    port = exporter.web.port
    env = {"BAMBU_WEB_CONFIG_FILE": str(config),
           "BAMBU_HEALTHCHECK_PASSWORD_FILE": str(password_file)}
    no_cert = healthcheck(port, env=env)
    assert no_cert.returncode == 1 and "--healthcheck.client-cert" in no_cert.stderr
    ok = healthcheck(port, "--probe", "healthy", env={
        **env, "BAMBU_HEALTHCHECK_CLIENT_CERT": str(pki["client"].cert),
        "BAMBU_HEALTHCHECK_CLIENT_KEY": str(pki["client"].key)})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"healthcheck: https://{HOST}:{port}/-/healthy: 200 Healthy"
    # without the variables' help: the same as flags, as a Kubernetes exec probe gives them
    flags = healthcheck(port, "--web.config.file", str(config),
                        "--healthcheck.password-file", str(password_file),
                        "--healthcheck.client-cert", str(pki["client"].cert),
                        "--healthcheck.client-key", str(pki["client"].key),
                        env={"BAMBU_WEB_CONFIG_FILE": ""})
    assert flags.returncode == 0, flags.stderr


def test_the_dockerfile_healthcheck_runs_this_command(tmp_path: Path,
                                                      running: list[Exporter]) -> None:
    """The image's HEALTHCHECK, run as Docker would (with only the variables), passes
    against a ready exporter."""
    dockerfile = (REPO / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK .*?\\\n\s+CMD (\[.*\])$", dockerfile, re.M)
    assert match, "no exec-form HEALTHCHECK"
    command = json.loads(match[1])
    assert command[:2] == ["bambu-exporter", "healthcheck"]
    exporter = start_exporter(tmp_path, None)
    running.append(exporter)
    result = healthcheck(exporter.web.port, *command[2:])
    assert result.returncode == 0, result.stderr
    assert "/-/ready: 200 Ready" in result.stdout


class BadServer:
    """A listening socket on this file's range that answers each connection with `send`,
    run in a thread; `finished` is set when `send` ran to its end (the probe stayed)."""

    def __init__(self, send: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.finished = threading.Event()
        self.cut_off = threading.Event()
        self._send = send
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(30)
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        with client:
            client.settimeout(10)
            client.recv(4096)   # the request
            try:
                self._send(client)
                self.finished.set()
            except OSError:
                self.cut_off.set()   # the probe hung up first

    def close(self) -> None:
        self.listener.close()
        self._thread.join(timeout=30)


def test_an_answer_cut_off_inside_its_head_fails() -> None:
    server = BadServer(lambda client: client.sendall(b"HTTP/1.1 200 OK\r\nContent-Ty"))
    try:
        result = healthcheck(server.port)
    finally:
        server.close()
    assert result.returncode == 1, result.stdout
    assert "the answer ended inside its head" in result.stderr


def test_one_deadline_for_the_whole_answer() -> None:
    """A server that drips its head a byte every 0.2 s, for longer than the probe's
    timeout: every single read is quick, the answer never completes in time."""
    def drip(client: socket.socket) -> None:
        client.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(100):   # 20 s of drips, against a 1 s --timeout
            client.sendall(b"X")
            time.sleep(0.2)
        client.sendall(b": y\r\nContent-Length: 6\r\n\r\nReady\n")

    server = BadServer(drip)
    try:
        result = healthcheck(server.port, "--timeout", "1s")
        # the probe hung up while the server was still dripping
        assert server.cut_off.wait(30), "the server finished dripping: the probe waited"
    finally:
        server.close()
    assert not server.finished.is_set()
    assert result.returncode == 1
    assert "no complete answer within 1s" in result.stderr
