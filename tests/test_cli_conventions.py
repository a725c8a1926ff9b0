"""The exporter's conventions end to end (`python -m exporter` as a subprocess): several
--web.listen-address, --web.telemetry-path, /-/healthy, /-/ready (the printer list read,
every worker answering), --log.format json without secrets, --version, truthful --help,
and start-up mistakes that stop with the flag named."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter import __version__
from exporter.config import ENVIRONMENT
from exporter.version import revision
from tests.support.addresses import AddressPool, Block
from tests.support.e2e import (
    REPO,
    ExporterProcess,
    assert_no_secret,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    run_exporter,
    value,
    wait_until,
)

pytestmark = pytest.mark.tier("e2e")

ACCESS_CODE = "31415926"


@pytest.fixture
def hosts(addresses: AddressPool) -> Block:
    """Web addresses first; then the address of a printer that never answers and a
    database that is not there."""
    return addresses.take(4)


@pytest.fixture
def printers_file(tmp_path: Path, hosts: Block) -> str:
    path = tmp_path / "printers.yaml"
    # Nothing listens at this address: the session fails and logs, which the log test reads.
    path.write_text("printers:\n"
                    f'  - {{name: "evil\\nERROR forged", ip: {hosts[2]}, serial: 00M000000000001,'
                    f' access_code: "{ACCESS_CODE}"}}\n')
    return str(path)


@pytest.fixture
def exporter_process() -> Iterator[list[ExporterProcess]]:
    started: list[ExporterProcess] = []
    yield started
    for proc in started:
        proc.cleanup()


def _start(started: list[ExporterProcess], args: list[str],
           env: dict[str, str] | None = None) -> ExporterProcess:
    proc = ExporterProcess(args, env or clean_env())
    started.append(proc)
    return proc


def test_several_listen_addresses_and_a_telemetry_path(
        printers_file: str, exporter_process: list[ExporterProcess], hosts: Block) -> None:
    port1, port2 = free_port(hosts[0]), free_port(hosts[1])
    proc = _start(exporter_process, [
        "--printers.file", printers_file, "--workers", "1",
        "--web.listen-address", f"{hosts[0]}:{port1}",
        "--web.listen-address", f"{hosts[1]}:{port2}", "--web.telemetry-path", "/farm/metrics"])
    for base in (f"http://{hosts[0]}:{port1}", f"http://{hosts[1]}:{port2}"):
        proc.wait_serving(base)
        assert http_get(base + "/-/healthy").text == "Healthy\n"
        assert http_get(base + "/healthz").status == 200
        wait_until(lambda base=base: http_get(base + "/-/ready").status == 200, 20,
                   what="/-/ready")
        samples = parse_samples(http_get(base + "/farm/metrics").text)
        build = [dict(labels) for name, labels in samples if name == "bambu_exporter_build_info"]
        assert build == [{"version": __version__, "revision": revision(),
                          "bambulabs_api_version": build[0]["bambulabs_api_version"]}]
        assert http_get(base + "/metrics").status == 404
        assert 'href="/farm/metrics"' in http_get(base + "/").text
    assert proc.stop() == 0
    # the CPU limit the default --workers comes from is logged at start
    assert "CPUs: " in proc.stderr and "CPUs in the affinity mask" in proc.stderr


def test_ready_waits_for_the_printer_list(exporter_process: list[ExporterProcess], hosts: Block) -> None:
    # A database nobody answers at: healthy (it serves) but never ready.
    port = free_port(hosts[0])
    proc = _start(exporter_process, ["--web.listen-address", f"{hosts[0]}:{port}",
                                     "--workers", "1", "--inventory.timeout", "200ms"],
                  clean_env({"DB_HOST": hosts[3], "DB_PORT": "9", "DB_NAME": "farm",
                             "DB_USER": "exporter", "DB_PASSWORD": "hunter2-secret"}))
    base = f"http://{hosts[0]}:{port}"
    proc.wait_serving(base)
    answer = http_get(base + "/-/ready")
    assert answer.status == 503
    assert answer.text.startswith("Not ready: the printer list was never read")
    assert "hunter2-secret" not in answer.text
    assert http_get(base + "/-/healthy").status == 200


def test_ready_says_which_worker_does_not_answer(
        printers_file: str, exporter_process: list[ExporterProcess], hosts: Block) -> None:
    port = free_port(hosts[0])
    proc = _start(exporter_process, ["--printers.file", printers_file, "--workers", "2",
                                     "--web.listen-address", f"{hosts[0]}:{port}"])
    base = f"http://{hosts[0]}:{port}"
    proc.wait_serving(base)
    wait_until(lambda: http_get(base + "/-/ready").status == 200, 30, what="ready")
    children = Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read_text().split()
    assert len(children) == 2
    # each worker's memory and CPU have series of their own; process_* are the main one's
    samples = parse_samples(http_get(base + "/metrics").text)
    for worker in ("0", "1"):
        rss = value(samples, "bambu_exporter_worker_resident_memory_bytes", worker=worker)
        assert rss is not None and rss > 5_000_000
        assert value(samples, "bambu_exporter_worker_cpu_seconds_total", worker=worker)
    assert value(samples, "process_resident_memory_bytes")
    stopped = int(children[1])
    os.kill(stopped, signal.SIGSTOP)   # alive but silent: only asking it shows that
    try:
        answer = http_get(base + "/-/ready", timeout=30)
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert answer.status == 503
    assert "do not answer" in answer.text
    # the silent worker is replaced; readiness comes back
    wait_until(lambda: http_get(base + "/-/ready", timeout=30).status == 200, 60,
               what="ready again")


def test_json_log_lines_hold_no_secret_and_no_forged_line(
        printers_file: str, exporter_process: list[ExporterProcess], hosts: Block) -> None:
    port = free_port(hosts[0])
    proc = _start(exporter_process, ["--printers.file", printers_file, "--workers", "2",
                                     "--log.format", "json", "--log.level", "debug",
                                     "--printer.connect-timeout", "200ms",
                                     "--web.listen-address", f"{hosts[0]}:{port}"])
    proc.wait_serving(f"http://{hosts[0]}:{port}")
    wait_until(lambda: hosts[2] in proc.stderr, 30, what="the session's failure logged")
    assert proc.stop() == 0
    lines = proc.stderr.splitlines()
    objects = [json.loads(line) for line in lines]   # every line is one object
    assert {obj["level"] for obj in objects} <= {"debug", "info", "warning", "error"}
    assert any(obj.get("worker") == "1" or obj.get("worker") == "0" for obj in objects)
    assert not any(line.startswith("ERROR forged") for line in lines)
    assert_no_secret([ACCESS_CODE], stderr=proc.stderr)


def test_version_prints_revision_python_and_dependencies() -> None:
    result = run_exporter(["--version"], clean_env(), timeout=30)
    assert result.returncode == 0
    assert result.stdout.startswith(f"bambu-exporter, version {__version__} (revision: "
                                    f"{revision()})")
    for name in ("python:", "bambulabs_api:", "prometheus_client:", "paho-mqtt:"):
        assert name in result.stdout


def test_help_tells_which_flags_have_variables() -> None:
    text = run_exporter(["--help"], clean_env({"COLUMNS": "200"}), timeout=30).stdout
    for flag, env in ENVIRONMENT.items():
        assert f"(env {env})" in text, flag
    assert "(env BAMBU_DEMO" not in text
    assert "Every flag can also be set" not in text
    assert "the others only on the command line" in text


def test_simulate_help_shows_a_plain_percent_sign() -> None:
    text = run_exporter(["simulate", "--help"], clean_env(), timeout=30).stdout
    assert "10%)" in text and "%%" not in text


def test_a_missing_printers_file_stops_start_up(tmp_path: Path) -> None:
    result = run_exporter(["--printers.file", str(tmp_path / "nope.yaml")], clean_env(),
                          timeout=30)
    assert result.returncode == 2
    assert "--printers.file" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fifo_as_printers_file_is_refused_saying_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "printers.yaml"
    os.mkfifo(fifo)
    result = run_exporter(["--printers.file", str(fifo)], clean_env(), timeout=30)
    assert result.returncode == 2
    assert "a FIFO (named pipe), not a regular file" in result.stderr   # was "no such file"
    assert "Traceback" not in result.stderr


def test_demo_addresses_taken_names_the_flag(hosts: Block) -> None:
    with socket.socket() as taken:
        taken.bind((hosts[2], 8883))
        taken.listen()
        result = run_exporter(["--demo", "--demo.printers", "1", "--demo.first-address",
                               hosts[2], "--web.listen-address",
                               f"{hosts[0]}:{free_port(hosts[0])}"],
                              clean_env(), timeout=60)
    assert result.returncode == 1
    assert f"--demo.first-address {hosts[2]}" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_addresses_taken_names_the_flag(hosts: Block) -> None:
    with socket.socket() as taken:
        taken.bind((hosts[2], 8883))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "exporter", "simulate", "--printers", "1",
                                 "--first-address", hosts[2]], cwd=REPO,
                                env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"--first-address {hosts[2]}" in result.stderr
    assert "Traceback" not in result.stderr
