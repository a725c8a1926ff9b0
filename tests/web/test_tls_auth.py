"""TLS and basic auth from --web.config.file, against real clients: Python's ssl and
http.client, curl, and a real Prometheus scraping a running exporter whose session talks to
a simulated printer. Servers on 127.0.64.10-12, the printer on 127.0.65.1.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import Exporter
from exporter.config import Settings
from exporter.http_server.server import ServerLimits, WebServer
from exporter.simulator import SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import free_port, wait_until
from tests.support.pki import KeyPair, bcrypt_hash, cert_der, fingerprint, make_ca, make_signed

pytestmark = pytest.mark.tier("e2e")

HOST = "127.0.64.10"
USER, PASSWORD = "prometheus", "s3cret-scrape-pass"


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {"ca": ca,
            "server": make_signed(directory, ca, "server", "serverAuth"),
            "server2": make_signed(directory, ca, "server2", "serverAuth"),
            "client": make_signed(directory, ca, "client", "clientAuth", sans="DNS:prometheus"),
            "stranger_ca": make_ca(directory, "stranger-ca")}


def web_yaml(pki: dict[str, KeyPair], cert: KeyPair, client_auth: bool) -> str:
    text = (f"tls_server_config:\n  cert_file: {cert.cert}\n  key_file: {cert.key}\n")
    if client_auth:
        text += (f"  client_auth_type: RequireAndVerifyClientCert\n"
                 f"  client_ca_file: {pki['ca'].cert}\n")
    return text + f"basic_auth_users:\n  {USER}: '{bcrypt_hash(PASSWORD)}'\n"


@pytest.fixture
def tls_server(tmp_path: Path, pki: dict[str, KeyPair]) -> Iterator[tuple[WebServer, Path]]:
    config = tmp_path / "web.yml"
    config.write_text(web_yaml(pki, pki["server"], client_auth=False))
    server = WebServer(hello, HOST, 0, web_config_file=str(config))
    server.start()
    yield server, config
    server.stop()


def client_context(pki: dict[str, KeyPair], with_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"].cert))
    if with_cert:
        context.load_cert_chain(str(pki["client"].cert), str(pki["client"].key))
    return context


def get(port: int, context: ssl.SSLContext, auth: tuple[str, str] | None = None,
        path: str = "/metrics") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPSConnection(HOST, port, context=context, timeout=10)
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_basic_auth_over_tls(tls_server: tuple[WebServer, Path], pki: dict[str, KeyPair],
                             caplog: pytest.LogCaptureFixture) -> None:
    server, _ = tls_server
    caplog.set_level(logging.DEBUG)
    context = client_context(pki)
    status, headers, _ = get(server.port, context)
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic realm=")
    assert get(server.port, context, (USER, "wrong-password"))[0] == 401
    assert get(server.port, context, ("mallory", PASSWORD))[0] == 401
    for _ in range(4):
        status, _, body = get(server.port, context, (USER, PASSWORD))
        assert (status, body) == (200, b"hello\n")
    auth = server.core.basic_auth()
    assert auth is not None and auth.bcrypt_checks == 3   # wrong, unknown, then right once
    assert server.core.refused["unauthorized"] == 3
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text
    assert server.describe() == "HTTPS, basic auth for 1 user(s)"


def test_kept_alive_tls_connections_serve_request_after_request(
        tls_server: tuple[WebServer, Path], pki: dict[str, KeyPair]) -> None:
    server, _ = tls_server
    connection = http.client.HTTPSConnection(HOST, server.port, context=client_context(pki),
                                             timeout=10)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    try:
        for _ in range(3):
            connection.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"hello\n")
        assert len(server.core.connections) == 1   # one connection, kept
        assert server.core.timeouts == 0   # no answer waited out the write deadline
    finally:
        connection.close()


def test_curl_with_and_without_credentials(tls_server: tuple[WebServer, Path],
                                           pki: dict[str, KeyPair]) -> None:
    server, _ = tls_server
    url = f"https://{HOST}:{server.port}/metrics"
    base = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
            str(pki["ca"].cert), "--max-time", "10"]
    def code(*extra: str) -> str:
        return subprocess.run([*base, *extra, url], capture_output=True, text=True,
                              timeout=30).stdout
    assert code() == "401"
    assert code("-u", f"{USER}:nope") == "401"
    assert code("-u", f"{USER}:{PASSWORD}") == "200"


def test_plain_http_to_the_tls_port_fails(tls_server: tuple[WebServer, Path]) -> None:
    server, _ = tls_server
    with pytest.raises((OSError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://{HOST}:{server.port}/metrics", timeout=10).read()
    # ... and the server carries on
    assert wait_until(lambda: not server.core.connections, 10, what="the failed connection gone")


def test_a_rotated_certificate_is_picked_up(tls_server: tuple[WebServer, Path],
                                            pki: dict[str, KeyPair]) -> None:
    server, config = tls_server

    def presented() -> str:
        with socket.create_connection((HOST, server.port), timeout=10) as raw, \
                client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
            return fingerprint(tls.getpeercert(binary_form=True))

    assert presented() == fingerprint(cert_der(pki["server"].cert))
    # Rotate as cert-manager would: new files written over the old ones.
    shutil.copy(pki["server2"].cert, pki["server"].cert.parent / "live.crt")
    shutil.copy(pki["server2"].key, pki["server"].cert.parent / "live.key")
    live = KeyPair(pki["server"].cert.parent / "live.crt", pki["server"].cert.parent / "live.key")
    config.write_text(web_yaml(pki, live, client_auth=False))
    new = fingerprint(cert_der(pki["server2"].cert))
    wait_until(lambda: presented() == new, 15, interval=0.3, what="the new certificate")
    shutil.copy(pki["server"].cert, live.cert)   # and again, only the files this time
    shutil.copy(pki["server"].key, live.key)
    old = fingerprint(cert_der(pki["server"].cert))
    wait_until(lambda: presented() == old, 15, interval=0.3, what="the rotated certificate")
    assert get(server.port, client_context(pki), (USER, PASSWORD))[0] == 200


def curl_code(url: str, pki: dict[str, KeyPair], *extra: str) -> str:
    """curl's HTTP status for `url` ("000": no HTTP answer, e.g. TLS spoken to plain HTTP)."""
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                           str(pki["ca"].cert), "--max-time", "5", *extra, url],
                          capture_output=True, text=True, timeout=30).stdout


@pytest.mark.parametrize("rewrite", ["truncated", "tls_only"])
def test_a_reload_never_switches_tls_or_auth_off(
        tls_server: tuple[WebServer, Path], pki: dict[str, KeyPair],
        caplog: pytest.LogCaptureFixture, rewrite: str) -> None:
    # An editor that truncates in place (and stops there), or a file that for a moment
    # holds only its TLS part: the port must stay HTTPS with basic auth.
    server, config = tls_server
    if rewrite == "truncated":
        with config.open("r+") as file:
            file.truncate(0)
    else:
        config.write_text(f"tls_server_config:\n  cert_file: {pki['server'].cert}\n"
                          f"  key_file: {pki['server'].key}\n")
    watcher = server.core.watcher
    assert watcher is not None
    # the watcher refuses the settled change (two looks); its counter says when
    wait_until(lambda: watcher.failures >= 1, 15, what="the rewrite refused")
    https = f"https://{HOST}:{server.port}/metrics"
    assert curl_code(https, pki) == "401"
    assert curl_code(https, pki, "-u", f"{USER}:{PASSWORD}") == "200"
    assert curl_code(f"http://{HOST}:{server.port}/metrics", pki) == "000"
    assert server.core.watcher is not None and server.core.watcher.failures == 1
    assert "refused, keeping the last good one" in caplog.text


def test_a_fifo_in_place_of_the_web_config_stalls_no_request(
        tls_server: tuple[WebServer, Path], pki: dict[str, KeyPair]) -> None:
    server, config = tls_server
    config.unlink()
    os.mkfifo(config)
    try:
        watcher = server.core.watcher
        assert watcher is not None
        wait_until(lambda: watcher.failures >= 1, 15, what="the watcher refusing the FIFO")
        https = f"https://{HOST}:{server.port}/metrics"
        assert [curl_code(https, pki, "-u", f"{USER}:{PASSWORD}") for _ in range(3)] == ["200"] * 3
    finally:
        # Had anything opened the FIFO for reading, this lets it go (no reader: ENXIO).
        with contextlib.suppress(OSError):
            os.close(os.open(config, os.O_WRONLY | os.O_NONBLOCK))


def test_a_client_certificate_is_required_when_configured(
        tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    config = tmp_path / "web.yml"
    config.write_text(web_yaml(pki, pki["server"], client_auth=True))
    server = WebServer(hello, "127.0.64.11", 0, web_config_file=str(config))
    server.start()
    try:
        def attempt(context: ssl.SSLContext) -> int:
            connection = http.client.HTTPSConnection("127.0.64.11", server.port,
                                                     context=context, timeout=10)
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            try:
                connection.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
                return connection.getresponse().status
            finally:
                connection.close()

        with pytest.raises((ssl.SSLError, OSError)):
            attempt(client_context(pki))   # no certificate
        stranger = client_context(pki)
        stranger_client = make_signed(tmp_path, pki["stranger_ca"], "stranger", "clientAuth",
                                      sans="DNS:stranger")
        stranger.load_cert_chain(str(stranger_client.cert), str(stranger_client.key))
        with pytest.raises((ssl.SSLError, OSError)):
            attempt(stranger)   # a certificate from another CA
        assert attempt(client_context(pki, with_cert=True)) == 200
        assert server.describe() == ("HTTPS, client certificates required, "
                                     "basic auth for 1 user(s)")
    finally:
        server.stop()


def test_silent_clients_on_the_tls_port_hold_up_nobody(
        tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    # A server that handshakes in its accept loop (cheroot) stalls for everyone while one
    # client connects and says nothing; here the handshake waits on the event loop.
    config = tmp_path / "web.yml"
    config.write_text(web_yaml(pki, pki["server"], client_auth=False))
    server = WebServer(hello, HOST, 0, web_config_file=str(config),
                       limits=ServerLimits(header_timeout=1.0))
    server.start()
    silent = [socket.create_connection((HOST, server.port), timeout=10) for _ in range(100)]
    try:
        assert get(server.port, client_context(pki), (USER, PASSWORD))[0] == 200
        wait_until(lambda: not server.core.connections, 15,
                   what="silent clients dropped at the header deadline")
        assert server.core.timeouts >= 100
        for sock in silent[:3]:
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass
    finally:
        for sock in silent:
            sock.close()
        server.stop()


# ------------------------------------------------------------------ a real Prometheus

def prometheus_targets(base: str) -> dict[str, dict[str, Any]]:
    with urllib.request.urlopen(base + "/api/v1/targets", timeout=5) as response:
        data = json.load(response)["data"]["activeTargets"]
    return {t["labels"]["job"]: t for t in data}


def test_prometheus_scrapes_over_mutual_tls_with_basic_auth(addresses: AddressPool,
        tmp_path: Path, pki: dict[str, KeyPair], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fleet = SimulatedFleet(count=1, first_address=addresses.take(1).first, seed=64, life=False)
    fleet.start()
    web = tmp_path / "web.yml"
    web.write_text(web_yaml(pki, pki["server"], client_auth=True))
    printers = tmp_path / "printers.yaml"
    fleet.write_inventory_yaml(printers)
    exporter = Exporter(Settings(listen_host="127.0.64.12", listen_port=0,
                                 printers_file=str(printers), web_config_file=str(web)))
    prometheus = None
    try:
        exporter.start()
        target = f"127.0.64.12:{exporter.web.port}"
        tls = (f"tls_config: {{ca_file: {pki['ca'].cert}, cert_file: {pki['client'].cert}, "
               f"key_file: {pki['client'].key}, server_name: localhost}}")
        jobs = [("bambu", PASSWORD), ("bambu-wrong-password", "not-the-password")]
        scrape = "".join(
            f"  - job_name: {job}\n    scheme: https\n    {tls}\n"
            f"    basic_auth: {{username: {USER}, password: {password}}}\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n" for job, password in jobs)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n" + scrape)
        port = free_port()
        base = f"http://127.0.64.12:{port}"
        log_file = (tmp_path / "prometheus.log").open("w")
        prometheus = subprocess.Popen(
            ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.64.12:{port}"],
            stdout=log_file, stderr=subprocess.STDOUT)

        def scraped() -> dict[str, dict[str, Any]] | None:
            try:
                targets = prometheus_targets(base)
            except OSError:
                return None
            ok = (targets.get("bambu", {}).get("health") == "up"
                  and targets.get("bambu-wrong-password", {}).get("health") == "down")
            return targets if ok else None

        targets = wait_until(scraped, 60, interval=0.5, what="Prometheus to scrape both jobs")
        assert "401" in targets["bambu-wrong-password"]["lastError"]
        query = base + "/api/v1/query?query=bambu_printer_up"

        def printer_up() -> bool:
            with urllib.request.urlopen(query, timeout=5) as response:
                result = json.load(response)["data"]["result"]
            return bool(result) and result[0]["value"][1] == "1"
        wait_until(printer_up, 60, interval=0.5, what="bambu_printer_up 1 through Prometheus")
        assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text
        assert exporter.web.core.timeouts == 0   # Prometheus' kept-alive scrapes flow
        refused = base + "/api/v1/query?query=" + urllib.parse.quote(
            'bambu_exporter_web_refused_requests_total{reason="unauthorized"}')

        def unauthorized_counted() -> bool:
            with urllib.request.urlopen(refused, timeout=5) as response:
                result = json.load(response)["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) >= 1
        wait_until(unauthorized_counted, 30, interval=0.5, what="401s counted on /metrics")
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(timeout=30)
        exporter.stop()
        fleet.stop()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (EOF or reset), waiting up to 10 s for it."""
    sock.settimeout(10)
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True
    except TimeoutError:
        return False


def plain_request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock.recv(4096)


def test_a_reload_that_turns_tls_on_closes_plain_connections(
        tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    """A kept-alive plain connection opened before TLS was turned on kept being served in
    clear after the reload."""
    config = tmp_path / "web.yml"
    config.write_text("")   # neither TLS nor basic auth, yet
    server = WebServer(hello, "127.0.64.13", 0, web_config_file=str(config))
    server.start()
    try:
        sock = socket.create_connection(("127.0.64.13", server.port), timeout=10)
        assert plain_request(sock).startswith(b"HTTP/1.1 200")
        config.write_text(web_yaml(pki, pki["server"], client_auth=False))
        wait_until(lambda: server.tls, 15, what="TLS turned on by the reload")
        assert closed_by_server(sock), "the plain connection is still open after TLS came on"
        assert server.core.dropped["security_reload"] == 1
        sock.close()
        # new connections get TLS
        raw = socket.create_connection(("127.0.64.13", server.port), timeout=10)
        with client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            tls.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                        f"Authorization: Basic {token}\r\n\r\n".encode())
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        server.stop()


def test_a_reload_that_requires_client_certificates_closes_connections_without_one(
        tmp_path: Path, pki: dict[str, KeyPair]) -> None:
    config = tmp_path / "web.yml"
    config.write_text(web_yaml(pki, pki["server"], client_auth=False))
    server = WebServer(hello, "127.0.64.14", 0, web_config_file=str(config))
    server.start()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = (f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n"
               .encode())
    try:
        raw = socket.create_connection(("127.0.64.14", server.port), timeout=10)
        sock = client_context(pki).wrap_socket(raw, server_hostname="localhost")
        sock.sendall(request)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        config.write_text(web_yaml(pki, pki["server"], client_auth=True))
        wait_until(lambda: server.describe().startswith("HTTPS, client certificates required"),
                   15, what="client certificates required by the reload")
        if not closed_by_server(sock):
            # still open: it must not be served either
            with contextlib.suppress(OSError):
                sock.sendall(request)
            assert closed_by_server(sock), "served without a client certificate after the reload"
        sock.close()
    finally:
        server.stop()
