#!/usr/bin/env python3
"""Benchmark: the exporter against a simulated fleet, and the seed's loop as the baseline.

    python bench/bench_exporter.py [--printers 200] [--scrapes 50] [--first-address 127.0.100.1]

Three processes, so that no two of them share a GIL:
- the simulated fleet: this script run again as `--simulator-child`, which runs
  `exporter.simulator.SimulatedFleet` and takes commands (change a printer's report) as
  JSON lines on stdin. `python -m exporter simulate` would be as fair but has no channel
  to change a printer, which the freshness figure needs;
- the exporter: `python -m exporter --printers.file ... --web.listen-address 127.0.0.1:P`,
  so its resident memory is its own (/proc/<pid>/status);
- this script: the scraper, and at the end the seed's sequential loop (bambulabs_api,
  unmodified), run after the exporter has stopped so that it has the machine to itself.

The machine is small, shared and noisy: figures are medians, percentiles and ratios.
Every wait is bounded; everything started is stopped, also on Ctrl-C or SIGTERM.
Traffic stays on loopback: printers on --first-address upward, the exporter on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import logging
import os
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_PRINTERS = 1000
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
TARGET_SCRAPE_P50 = 0.100   # seconds, at 200 printers
TARGET_FRESHNESS = 1.0      # seconds, at 200 printers
TARGET_FLEET = 200
# Delta-sending printers (P1/A1 class): a change reaches the exporter only as a delta.
DELTA_MODELS = ("P1P", "P1S", "A1", "A1MINI")


class BenchError(Exception):
    """Something the benchmark needs did not happen; the message says what."""


# ------------------------------------------------------------------ small helpers

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status_kib(pid: int, field: str) -> int:
    """VmRSS / VmHWM ... of a live process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field}")


def proc_fds(pid: int) -> tuple[int, int]:
    """(open file descriptors, highest one) of a live process."""
    fds = [int(fd) for fd in os.listdir(f"/proc/{pid}/fd")]
    return len(fds), max(fds, default=-1)


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM, bounded wait, then SIGKILL. Only ever our own child, by its pid."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------ /metrics

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric `name` in a text exposition."""
    prefix = name + "{"
    for line in text.splitlines():
        if not (line.startswith(prefix) or line.startswith(name + " ")):
            continue
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            labels = dict(_LABEL.findall(match.group(2) or ""))
            yield labels, float(match.group(3))


def up_count(text: str) -> int:
    return sum(1 for _, value in samples(text, "bambu_printer_up") if value == 1.0)


def scrape(port: int, openmetrics: bool = False, timeout: float = 30.0) -> tuple[float, bytes]:
    """One GET /metrics on a fresh connection, as Prometheus' scrape does; (seconds, body)."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {"Accept": "text/plain"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise BenchError(f"/metrics answered {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - started, body


# ------------------------------------------------------------------ the simulator child

def simulator_child(args: argparse.Namespace) -> int:
    """Run the fleet; protocol on the original stdout (JSON lines), everything else
    (the simulator's own prints) to stderr; stop on EOF, {"op": "stop"} or a signal."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, _interrupt)
    from exporter.simulator import SimulatedFleet
    from exporter.simulator.models import MODELS

    started = time.perf_counter()
    fleet = SimulatedFleet(count=args.printers, first_address=args.first_address,
                           seed=args.seed, life=True)
    try:
        fleet.start()
        fleet.write_inventory_yaml(args.inventory)
        records = [{"name": r.name, "ip": r.ip, "serial": r.serial, "model": r.model,
                    "access_code": r.access_code,
                    "delta": not MODELS[r.model].full_reports}
                   for r in fleet.records]
        proto.write(json.dumps({"ready": True, "seconds": time.perf_counter() - started,
                                "records": records}) + "\n")
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("op") == "stop":
                break
            if command.get("op") == "update":
                handle = fleet.printer(command["serial"])
                sent = time.time()
                handle.update(command["partial"])
                proto.write(json.dumps({"ok": True, "sent": sent}) + "\n")
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
    return 0


class SimulatorChild:
    """The parent's side of the child above."""

    def __init__(self, printers: int, first_address: str, seed: int, inventory: Path,
                 log: Path, timeout: float) -> None:
        self.log = log
        self._log_file = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--simulator-child",
             "--printers", str(printers), "--first-address", first_address,
             "--seed", str(seed), "--inventory", str(inventory)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log_file,
            text=True, env=child_env(), cwd=ROOT)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True, name="simulator-proto").start()
        try:
            ready = self._next(timeout)
        except BaseException:
            self.stop()
            raise
        self.seconds = float(ready["seconds"])
        self.records: list[dict[str, Any]] = ready["records"]

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            raise BenchError("the simulator did not answer; its log ends:\n" + tail(self.log))
        return json.loads(line)

    def update(self, serial: str, partial: dict[str, Any]) -> float:
        """Change a printer's report; returns the wall time just before it was sent."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": "update", "serial": serial,
                                          "partial": partial}) + "\n")
        self.proc.stdin.flush()
        return float(self._next(30)["sent"])

    def stop(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process(self.proc)
        self._log_file.close()


# ------------------------------------------------------------------ the exporter

class ExporterProcess:
    def __init__(self, inventory: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = open(log, "w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--printers.file", str(inventory),
             "--web.listen-address", f"127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            env=child_env(), cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_answering(self, timeout: float) -> float:
        """Seconds from start until /metrics first answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the exporter exited ({self.proc.returncode}); its log "
                                 f"ends:\n{tail(self.log)}")
            try:
                scrape(self.port, timeout=5)
                return time.perf_counter() - self.started
            except (OSError, http.client.HTTPException, BenchError):
                time.sleep(0.05)
        raise BenchError(f"the exporter did not answer within {timeout:.0f} s; its log "
                         f"ends:\n{tail(self.log)}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._log_file.close()


# ------------------------------------------------------------------ the figures

def measure_empty_rss(workdir: Path, settle_scrapes: int = 5) -> int:
    """RSS (KiB) of an exporter serving an empty printer list, warmed by a few scrapes."""
    inventory = workdir / "empty.yaml"
    inventory.write_text("printers: []\n")
    exporter = ExporterProcess(inventory, workdir / "exporter-empty.log")
    try:
        exporter.wait_answering(60)
        for _ in range(settle_scrapes):
            scrape(exporter.port)
        time.sleep(0.5)
        return proc_status_kib(exporter.pid, "VmRSS")
    finally:
        exporter.stop()


def wait_all_up(exporter: ExporterProcess, count: int, timeout: float) -> tuple[float, int]:
    """Seconds from the exporter's start until every printer is up; (seconds, up seen)."""
    deadline = time.monotonic() + timeout
    best = 0
    while time.monotonic() < deadline:
        try:
            _, body = scrape(exporter.port)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
            continue
        best = up_count(body.decode())
        if best >= count:
            return time.perf_counter() - exporter.started, best
        time.sleep(0.1)
    return float("nan"), best


def measure_scrapes(port: int, scrapes: int) -> dict[str, Any]:
    """Text and OpenMetrics scrapes alternated, so that noise hits both alike."""
    out: dict[str, Any] = {"text": [], "openmetrics": [], "text_bytes": 0, "om_bytes": 0,
                           "collect": []}
    for _ in range(scrapes):
        seconds, body = scrape(port)
        out["text"].append(seconds)
        out["text_bytes"] = len(body)
        for _, value in samples(body.decode(), "bambu_exporter_collect_duration_seconds"):
            out["collect"].append(value)
        seconds, body = scrape(port, openmetrics=True)
        out["openmetrics"].append(seconds)
        out["om_bytes"] = len(body)
    return out


def nozzle_target(text: str, serial: str) -> float | None:
    for labels, value in samples(text, "bambu_printer_target_temperature_celsius"):
        if labels.get("serial") == serial and labels.get("sensor") == "nozzle":
            return value
    return None


def measure_freshness(sim: SimulatorChild, port: int, printers: list[dict[str, Any]],
                      timeout: float = 10.0) -> tuple[list[float], list[float]]:
    """Per printer: set nozzle temperature and target to a new value through the
    simulator (sent at once, as a delta), then scrape back to back until /metrics shows
    it. The target is what is looked for: the simulated life moves the temperature itself
    within a second, the target only on a change of job state. Returns (delays, the
    durations of the polling scrapes: the resolution of the delays)."""
    delays: list[float] = []
    polls: list[float] = []
    for i, printer in enumerate(printers):
        _, body = scrape(port)
        value = 171.0 + i
        while nozzle_target(body.decode(), printer["serial"]) == value:
            value += 0.5
        sent = sim.update(printer["serial"], {"print": {"nozzle_temper": value,
                                                        "nozzle_target_temper": value}})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seconds, body = scrape(port)
            polls.append(seconds)
            if nozzle_target(body.decode(), printer["serial"]) == value:
                delays.append(time.time() - sent)
                break
    return delays, polls


def seed_loop(records: list[dict[str, Any]], per_printer_timeout: float
              ) -> tuple[float, list[float], dict[str, int], int]:
    """The seed's design, as it would serve one scrape: for each printer in turn connect,
    wait for a state other than UNKNOWN (bounded), record it, disconnect.
    Returns (total seconds, per-printer seconds, states seen, timed out)."""
    from bambulabs_api import GcodeState, Printer
    logging.getLogger("bambulabs_api").setLevel(logging.CRITICAL)  # "not available yet" spam

    per_printer: list[float] = []
    states: dict[str, int] = {}
    timed_out = 0
    started = time.perf_counter()
    for record in records:
        t0 = time.perf_counter()
        printer = Printer(record["ip"], record["access_code"], record["serial"])
        printer.mqtt_start()
        state = GcodeState.UNKNOWN
        try:
            while time.perf_counter() - t0 < per_printer_timeout:
                state = printer.get_state()
                if state != GcodeState.UNKNOWN:
                    break
                time.sleep(0.01)
            else:
                timed_out += 1
        finally:
            printer.mqtt_client._client.disconnect()
            printer.mqtt_stop()
        states[state.name] = states.get(state.name, 0) + 1
        per_printer.append(time.perf_counter() - t0)
    return time.perf_counter() - started, per_printer, states, timed_out


def run_bounded(fn: Callable[[], Any], timeout: float) -> Any:
    """Run fn in a daemon thread; BenchError if it has not finished within timeout (the
    library's getters can block without a bound)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True, name="seed-loop")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise BenchError(f"the seed loop did not finish within {timeout:.0f} s")
    if error:
        raise error[0]
    return result[0]


# ------------------------------------------------------------------ main

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark bambu-exporter on a simulated fleet against the seed's "
                    "sequential loop. Prints time to all up, scrape latency (text and "
                    "OpenMetrics), memory per printer, report-to-metrics freshness and "
                    "the seed loop's time.")
    parser.add_argument("--printers", type=int, default=200,
                        help=f"simulated printers, 1..{MAX_PRINTERS} (default 200)")
    parser.add_argument("--scrapes", type=int, default=50,
                        help="scrapes per format (default 50)")
    parser.add_argument("--first-address", default="127.0.100.1",
                        help="loopback address of the first printer (default 127.0.100.1)")
    parser.add_argument("--seed", type=int, default=11, help="simulator seed (default 11)")
    parser.add_argument("--freshness-printers", type=int, default=10,
                        help="P1/A1-class printers whose change is timed (default 10)")
    parser.add_argument("--baseline-printers", type=int, default=None,
                        help="printers the seed loop visits; when fewer than the fleet, "
                             "its time for the whole fleet is extrapolated "
                             "(default: the whole fleet)")
    parser.add_argument("--baseline-timeout", type=float, default=5.0,
                        help="seed loop: per-printer wait for a state (default 5 s)")
    parser.add_argument("--simulator-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inventory", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.printers <= MAX_PRINTERS:
        parser.error(f"--printers must be 1..{MAX_PRINTERS}")
    if args.scrapes < 1:
        parser.error("--scrapes must be at least 1")
    try:
        first = ipaddress.IPv4Address(args.first_address)
    except ValueError:
        parser.error(f"--first-address: not an IPv4 address: {args.first_address!r}")
    if not (first.is_loopback and (first + args.printers - 1).is_loopback):
        parser.error("--first-address: the fleet must stay inside 127.0.0.0/8")
    if args.baseline_printers is None:
        args.baseline_printers = args.printers
    args.baseline_printers = max(0, min(args.baseline_printers, args.printers))
    return args


def bench(args: argparse.Namespace, stack: ExitStack) -> None:
    n = args.printers
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-exporter-")))
    last_ip = ipaddress.IPv4Address(args.first_address) + n - 1
    print(f"bench_exporter: {n} printers on {args.first_address}..{last_ip}, "
          f"{args.scrapes} scrapes per format; simulator and exporter each in their own "
          f"process; {os.cpu_count()} CPUs", flush=True)

    inventory = workdir / "printers.yaml"
    sim = SimulatorChild(n, args.first_address, args.seed, inventory,
                         workdir / "simulator.log", timeout=120)
    stack.callback(sim.stop)
    print(f"simulator: {n} printers listening after {sim.seconds:.2f} s (pid {sim.proc.pid})",
          flush=True)

    empty_kib = measure_empty_rss(workdir)

    exporter = ExporterProcess(inventory, workdir / "exporter.log")
    stack.callback(exporter.stop)
    answering = exporter.wait_answering(60 + 0.1 * n)
    up_seconds, up = wait_all_up(exporter, n, timeout=30 + 0.1 * n)
    if up >= n:
        print(f"all printers up: {up}/{n} in {up_seconds:.2f} s from exporter start "
              f"(/metrics answering after {answering:.2f} s)", flush=True)
    else:
        _, body = scrape(exporter.port)
        text = body.decode()
        connects = sum(v for _, v in samples(text, "bambu_printer_connects_total"))
        errors: dict[str, float] = {}
        for labels, value in samples(text, "bambu_printer_connection_errors_total"):
            errors[labels.get("reason", "?")] = errors.get(labels.get("reason", "?"), 0) + value
        print(f"all printers up: NOT REACHED, {up}/{n} up {30 + 0.1 * n:.0f} s after "
              f"/metrics first answered ({answering:.2f} s); sessions established "
              f"{connects:.0f}, connection errors "
              f"{ {k: int(v) for k, v in errors.items() if v} or 'none'}", flush=True)
    fds, highest = proc_fds(exporter.pid)
    threads = len(os.listdir(f"/proc/{exporter.pid}/task"))
    print(f"exporter process: {threads} threads, {fds} open file descriptors (highest "
          f"{highest})", flush=True)

    # idle CPU: what the exporter spends just keeping the sessions (reports arriving)
    cpu0, sim_cpu0, t0 = proc_cpu_seconds(exporter.pid), proc_cpu_seconds(sim.proc.pid), \
        time.perf_counter()
    time.sleep(3)
    wall = time.perf_counter() - t0
    exporter_cpu = (proc_cpu_seconds(exporter.pid) - cpu0) / wall
    sim_cpu = (proc_cpu_seconds(sim.proc.pid) - sim_cpu0) / wall
    print(f"idle CPU (no scrapes, 3 s): exporter {exporter_cpu:.0%} of a core, "
          f"simulator {sim_cpu:.0%}", flush=True)

    result = measure_scrapes(exporter.port, args.scrapes)
    text_p50 = statistics.median(result["text"])
    om_p50 = statistics.median(result["openmetrics"])
    target_note = "" if n == TARGET_FLEET else f" (the target is for {TARGET_FLEET} printers)"
    print(f"scrape text: p50 {ms(text_p50)}, p99 {ms(percentile(result['text'], 99))}, "
          f"{result['text_bytes']} bytes per scrape; target p50 <= "
          f"{ms(TARGET_SCRAPE_P50)}: {verdict(text_p50 <= TARGET_SCRAPE_P50)}{target_note}",
          flush=True)
    print(f"scrape openmetrics: p50 {ms(om_p50)}, p99 "
          f"{ms(percentile(result['openmetrics'], 99))}, {result['om_bytes']} bytes per "
          f"scrape; target p50 <= {ms(TARGET_SCRAPE_P50)}: "
          f"{verdict(om_p50 <= TARGET_SCRAPE_P50)}{target_note}", flush=True)
    if result["collect"]:
        print(f"collect (exporter's own bambu_exporter_collect_duration_seconds): p50 "
              f"{ms(statistics.median(result['collect']))}, max "
              f"{ms(max(result['collect']))}", flush=True)

    rss_kib = proc_status_kib(exporter.pid, "VmRSS")
    hwm_kib = proc_status_kib(exporter.pid, "VmHWM")
    print(f"memory: exporter RSS {mib(rss_kib)} (peak {mib(hwm_kib)}) with {n} printers, "
          f"{mib(empty_kib)} with an empty list: {(rss_kib - empty_kib) / n:.0f} KiB per "
          f"printer", flush=True)

    # P1/A1-class printers that are up, spread over the whole list
    _, body = scrape(exporter.port)
    up_serials = {labels.get("serial") for labels, value
                  in samples(body.decode(), "bambu_printer_up") if value == 1.0}
    candidates = [r for r in sim.records if r["delta"] and r["serial"] in up_serials]
    step = max(1, len(candidates) // max(1, args.freshness_printers))
    chosen = candidates[::step][:args.freshness_printers]
    if chosen:
        delays, polls = measure_freshness(sim, exporter.port, chosen)
        if delays:
            p50, worst = statistics.median(delays), max(delays)
            ok = len(delays) == len(chosen) and worst <= TARGET_FRESHNESS
            print(f"freshness: p50 {ms(p50)}, max {ms(worst)} over {len(delays)}/"
                  f"{len(chosen)} P1/A1-class printers (resolution: a scrape, p50 "
                  f"{ms(statistics.median(polls))}); target max <= {TARGET_FRESHNESS:.0f} s: "
                  f"{verdict(ok)}{target_note}", flush=True)
        else:
            print(f"freshness: NOT SEEN on any of {len(chosen)} printers within 10 s; "
                  f"target <= {TARGET_FRESHNESS:.0f} s: MISS", flush=True)
    else:
        print("freshness: no P1/A1-class printer up in this fleet (try more printers)",
              flush=True)

    exporter.stop()  # the seed loop has the machine to itself, as it would have had
    if args.baseline_printers == 0:
        print("seed loop: skipped (--baseline-printers 0)", flush=True)
        return
    subset = sim.records[:args.baseline_printers]
    total, per_printer, states, timed_out = run_bounded(
        lambda: seed_loop(subset, args.baseline_timeout),
        timeout=len(subset) * (args.baseline_timeout + 10) + 30)
    seen = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    if len(subset) == n:
        whole = total
        how = f"{total:.2f} s for all {n} printers"
    else:
        whole = statistics.mean(per_printer) * n
        how = (f"{whole:.1f} s for {n} printers, extrapolated from {len(subset)} printers "
               f"timed ({total:.2f} s)")
    print(f"seed loop: {how}; per printer p50 {ms(statistics.median(per_printer))}, max "
          f"{ms(max(per_printer))}; {timed_out} timed out ({args.baseline_timeout:.0f} s); "
          f"states: {seen}", flush=True)
    print(f"seed loop / exporter scrape p50: {whole / text_p50:.0f}x "
          f"({whole:.2f} s vs {ms(text_p50)})", flush=True)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: through every finally


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.simulator_child:
        return simulator_child(args)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    try:
        with ExitStack() as stack:
            bench(args, stack)
    except KeyboardInterrupt:
        print("bench_exporter: interrupted; everything it started is stopped",
              file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench_exporter: error: {exc}", file=sys.stderr)
        return 1
    print(f"bench_exporter: done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
