"""--web.systemd-socket: the exporter serves on a socket handed over the way systemd
does it (descriptor 3, LISTEN_FDS, LISTEN_PID of the exec'd process), and refuses
clearly when there is none or it is for another process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.errors import ConfigError
from exporter.http_server.systemd_socket import systemd_sockets
from tests.support.addresses import AddressPool
from tests.support.e2e import REPO, clean_env, http_get, wait_until

pytestmark = pytest.mark.tier("e2e")

# What systemd does between fork and exec: the socket to descriptor 3, LISTEN_FDS and
# LISTEN_PID (the pid that exec keeps) in the environment.
LAUNCHER = """
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "exporter", *sys.argv[2:]])
"""


def test_the_exporter_serves_on_the_socket_systemd_hands_over(tmp_path: Path,
                                                          addresses: AddressPool) -> None:
    host, ignored = addresses.take(2).all
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers:\n")
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen()
    port = listener.getsockname()[1]
    err = open(tmp_path / "stderr", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(listener.fileno()), "--printers.file",
         str(printers), "--web.systemd-socket",
         # ignored with --web.systemd-socket (as exporter-toolkit does): must not be bound
         "--web.listen-address", f"{ignored}:1"],
        cwd=REPO, env=clean_env(), pass_fds=(listener.fileno(),), stdout=subprocess.DEVNULL,
        stderr=err, stdin=subprocess.DEVNULL)
    listener.close()   # only the exporter holds it now
    try:
        def served() -> bool:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            try:
                return http_get(f"http://{host}:{port}/-/ready", timeout=2).status == 200
            except OSError:
                return False
        wait_until(served, 30, what="the exporter on the handed-over socket")
        assert "bambu_exporter_build_info" in http_get(
            f"http://{host}:{port}/metrics").text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        err.close()
    log = (tmp_path / "stderr").read_text()
    assert f"listening on {host}:{port}" in log


def test_without_sockets_start_up_stops_naming_the_flag(tmp_path: Path) -> None:
    printers = tmp_path / "printers.yaml"
    printers.write_text("printers:\n")
    result = subprocess.run([sys.executable, "-m", "exporter", "--printers.file", str(printers),
                             "--web.systemd-socket"], cwd=REPO, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--web.systemd-socket" in result.stderr and "LISTEN_FDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_sockets_for_another_process_are_not_taken() -> None:
    env = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid() + 1)}
    with pytest.raises(ConfigError, match="LISTEN_PID does not match"):
        systemd_sockets(env)
    assert "LISTEN_FDS" not in env and "LISTEN_PID" not in env   # read once, then gone


def test_a_descriptor_that_is_not_a_tcp_socket_is_refused() -> None:
    # In a child of its own: descriptor 3 of the test process may be anything.
    script = """
import os
from exporter.errors import ConfigError
from exporter.http_server.systemd_socket import systemd_sockets
read_end, _ = os.pipe()
os.dup2(read_end, 3)
try:
    systemd_sockets({"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())})
except ConfigError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert "--web.systemd-socket: descriptor 3 is not a socket" in result.stdout or \
        "--web.systemd-socket: descriptor 3 is not a TCP socket" in result.stdout, result


def test_a_bad_count_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a number of sockets"):
        systemd_sockets({"LISTEN_FDS": "two", "LISTEN_PID": str(os.getpid())})
    with pytest.raises(ConfigError, match="not a number of sockets"):
        systemd_sockets({"LISTEN_FDS": "²", "LISTEN_PID": str(os.getpid())})
