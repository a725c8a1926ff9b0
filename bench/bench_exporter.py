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

MAX_PRINTERS = 5000
SPACED_PAUSE = 1.5   # seconds between "spaced" scrapes: X1-class printers report every second
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


class Targets:
    """The targets for a fleet size (the project's targets for 1000 and 5000 printers; the README's
    for 200). None: no target at that size."""

    def __init__(self, fleet: int, up: float | None, p50: float, p99: float | None,
                 freshness: float | None, idle_cpu: float | None,
                 kib_per_printer: float | None) -> None:
        self.fleet, self.up, self.p50, self.p99 = fleet, up, p50, p99
        self.freshness, self.idle_cpu, self.kib_per_printer = freshness, idle_cpu, kib_per_printer


TARGETS = (
    Targets(200, None, 0.100, None, 1.0, None, None),
    Targets(1000, 15.0, 0.150, 0.300, 1.0, 0.10, 120.0),
    Targets(5000, 60.0, 1.0, None, None, None, None),
)


def targets_for(printers: int) -> Targets:
    """The smallest target tier at least this big (the largest past 5000)."""
    return next((t for t in TARGETS if printers <= t.fleet), TARGETS[-1])


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


def tree_pids(pid: int) -> list[int]:
    """pid and its descendants (the exporter's worker processes)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


def tree_sum(pid: int, measure: Callable[[int], float]) -> float:
    """measure() summed over the process and its descendants; ones that vanish count 0."""
    total = 0.0
    for member in tree_pids(pid):
        try:
            total += measure(member)
        except (OSError, BenchError):
            pass
    return total


def raise_open_files_limit() -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


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
    raise_open_files_limit()   # a listening and an accepted socket per printer
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
                    "delta": not MODELS[r.model].full_reports,
                    # the freshness probe sets the flat nozzle fields; newer firmware's
                    # print.device (read first) would hide them
                    "flat_nozzle": not MODELS[r.model].device}
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
    def __init__(self, inventory: Path, log: Path, workers: int) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = open(log, "w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--printers.file", str(inventory),
             "--web.listen-address", f"127.0.0.1:{self.port}", "--workers", str(workers)],
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

def rss_kib(pid: int) -> int:
    """RSS of the exporter and its worker processes together, KiB."""
    return int(tree_sum(pid, lambda p: proc_status_kib(p, "VmRSS")))


def measure_empty_rss(workdir: Path, workers: int, settle_scrapes: int = 5) -> int:
    """RSS (KiB, all processes) of an exporter with these workers serving an empty
    printer list, warmed by a few scrapes."""
    inventory = workdir / "empty.yaml"
    inventory.write_text("printers: []\n")
    exporter = ExporterProcess(inventory, workdir / f"exporter-empty-{workers}.log", workers)
    try:
        exporter.wait_answering(60)
        for _ in range(settle_scrapes):
            scrape(exporter.port)
        time.sleep(1.0 if workers > 1 else 0.5)
        return rss_kib(exporter.pid)
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
    parser.add_argument("--spaced-scrapes", type=int, default=5,
                        help=f"text scrapes {SPACED_PAUSE} s apart, after the back-to-back ones "
                             "(default 5)")
    parser.add_argument("--workers", default="1,auto",
                        help="comma-separated --workers values to run the exporter with, one "
                             "after another on the same fleet; auto = the exporter's default "
                             "for this machine (default 1,auto)")
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
    workers: list[int] = []
    for item in str(args.workers).split(","):
        item = item.strip()
        if item == "auto":
            from exporter.config import default_workers
            value = default_workers()
        elif item.isdigit() and 1 <= int(item) <= 64:
            value = int(item)
        else:
            parser.error(f"--workers: {item!r} is not 1..64 or auto")
        if value not in workers:
            workers.append(value)
    args.workers = workers
    if args.baseline_printers is None:
        args.baseline_printers = args.printers
    args.baseline_printers = max(0, min(args.baseline_printers, args.printers))
    return args


def bench(args: argparse.Namespace, stack: ExitStack) -> None:
    n = args.printers
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-exporter-")))
    last_ip = ipaddress.IPv4Address(args.first_address) + n - 1
    print(f"bench_exporter: {n} printers on {args.first_address}..{last_ip}, "
          f"{args.scrapes} scrapes per format; exporter runs with --workers "
          f"{', '.join(map(str, args.workers))}; simulator and exporter each in their own "
          f"processes; {os.cpu_count()} CPUs", flush=True)

    inventory = workdir / "printers.yaml"
    sim = SimulatorChild(n, args.first_address, args.seed, inventory,
                         workdir / "simulator.log", timeout=120 + 0.05 * n)
    stack.callback(sim.stop)
    print(f"simulator: {n} printers listening after {sim.seconds:.2f} s (pid {sim.proc.pid})",
          flush=True)

    runs: dict[int, dict[str, Any]] = {}
    for workers in args.workers:
        print(f"== exporter --workers {workers}", flush=True)
        runs[workers] = exporter_run(args, sim, inventory, workdir, workers, stack)
    if len(runs) > 1:
        side_by_side(n, runs)

    if args.baseline_printers == 0:
        print("seed loop: skipped (--baseline-printers 0)", flush=True)
        return
    text_p50 = runs[args.workers[0]]["text_p50"]
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
          f"({whole:.2f} s vs {ms(text_p50)}, --workers {args.workers[0]})", flush=True)


def exporter_run(args: argparse.Namespace, sim: SimulatorChild, inventory: Path,
                 workdir: Path, workers: int, stack: ExitStack) -> dict[str, Any]:
    """One exporter with `workers` on the running fleet: every figure, printed and
    returned. The exporter is stopped before returning (the next run has the machine)."""
    n = args.printers
    goal = targets_for(n)
    target_note = "" if n == goal.fleet else f" (the target is for {goal.fleet} printers)"
    fig: dict[str, Any] = {"workers": workers}
    empty_kib = measure_empty_rss(workdir, workers)

    exporter = ExporterProcess(inventory, workdir / f"exporter-{workers}.log", workers)
    stack.callback(exporter.stop)
    answering = exporter.wait_answering(60 + 0.1 * n)
    up_seconds, up = wait_all_up(exporter, n, timeout=30 + 0.1 * n)
    fig["up"], fig["up_count"] = up_seconds, up
    if up >= n:
        up_verdict = "" if goal.up is None else (
            f"; target <= {goal.up:.0f} s: {verdict(up_seconds <= goal.up)}{target_note}")
        print(f"all printers up: {up}/{n} in {up_seconds:.2f} s from exporter start "
              f"(/metrics answering after {answering:.2f} s){up_verdict}", flush=True)
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
    pids = tree_pids(exporter.pid)
    fds = sum(proc_fds(pid)[0] for pid in pids)
    highest = max(proc_fds(pid)[1] for pid in pids)
    threads = sum(len(os.listdir(f"/proc/{pid}/task")) for pid in pids)
    fig["processes"], fig["threads"] = len(pids), threads
    print(f"exporter process: {len(pids)} processes, {threads} threads, {fds} open file "
          f"descriptors (highest {highest})", flush=True)

    # idle CPU: what the exporter spends just keeping the sessions (reports arriving)
    cpu0, sim_cpu0, t0 = tree_sum(exporter.pid, proc_cpu_seconds), \
        proc_cpu_seconds(sim.proc.pid), time.perf_counter()
    time.sleep(3)
    wall = time.perf_counter() - t0
    exporter_cpu = (tree_sum(exporter.pid, proc_cpu_seconds) - cpu0) / wall
    sim_cpu = (proc_cpu_seconds(sim.proc.pid) - sim_cpu0) / wall
    fig["idle_cpu"] = exporter_cpu
    cpu_verdict = "" if goal.idle_cpu is None else (
        f"; target <= {goal.idle_cpu:.0%}: {verdict(exporter_cpu <= goal.idle_cpu)}{target_note}")
    print(f"idle CPU (no scrapes, 3 s): exporter {exporter_cpu:.0%} of a core (all its "
          f"processes), simulator {sim_cpu:.0%}{cpu_verdict}", flush=True)

    result = measure_scrapes(exporter.port, args.scrapes)
    for kind, key in (("text", "text"), ("openmetrics", "om")):
        p50, p99 = statistics.median(result[kind]), percentile(result[kind], 99)
        fig[f"{key}_p50"], fig[f"{key}_p99"] = p50, p99
        ok = p50 <= goal.p50 and (goal.p99 is None or p99 <= goal.p99)
        wanted = f"p50 <= {ms(goal.p50)}" + ("" if goal.p99 is None else
                                             f", p99 <= {ms(goal.p99)}")
        size = result["text_bytes" if kind == "text" else "om_bytes"]
        print(f"scrape {kind}: p50 {ms(p50)}, p99 {ms(p99)}, {size} bytes per scrape; "
              f"target {wanted}: {verdict(ok)}{target_note}", flush=True)
    # Back-to-back scrapes find most printers unchanged (their lines are kept); a scrape
    # after a pause re-renders every printer that reported since, as Prometheus' do.
    spaced = []
    for _ in range(args.spaced_scrapes):
        time.sleep(SPACED_PAUSE)
        spaced.append(scrape(exporter.port)[0])
    if spaced:
        fig["spaced_p50"] = statistics.median(spaced)
        print(f"scrape spaced: text p50 {ms(fig['spaced_p50'])}, max {ms(max(spaced))} over "
              f"{len(spaced)} scrapes {SPACED_PAUSE:.1f} s apart (every printer that "
              f"reported meanwhile is rendered afresh)", flush=True)
    if result["collect"]:
        fig["collect_p50"] = statistics.median(result["collect"])
        print(f"collect (exporter's own bambu_exporter_collect_duration_seconds): p50 "
              f"{ms(fig['collect_p50'])}, max {ms(max(result['collect']))}", flush=True)

    rss = rss_kib(exporter.pid)
    hwm = int(tree_sum(exporter.pid, lambda p: proc_status_kib(p, "VmHWM")))
    per_printer = (rss - empty_kib) / n
    fig["rss"], fig["empty_rss"], fig["kib_per_printer"] = rss, empty_kib, per_printer
    mem_verdict = "" if goal.kib_per_printer is None else (
        f"; target <= {goal.kib_per_printer:.0f} KiB: "
        f"{verdict(per_printer <= goal.kib_per_printer)}{target_note}")
    print(f"memory: exporter RSS {mib(rss)} (peaks summed {mib(hwm)}; all {len(pids)} "
          f"processes) with {n} printers, {mib(empty_kib)} with an empty list: "
          f"{per_printer:.0f} KiB per printer{mem_verdict}", flush=True)

    # P1/A1-class printers that are up, spread over the whole list
    _, body = scrape(exporter.port)
    up_serials = {labels.get("serial") for labels, value
                  in samples(body.decode(), "bambu_printer_up") if value == 1.0}
    candidates = [r for r in sim.records
                  if r["delta"] and r["flat_nozzle"] and r["serial"] in up_serials]
    step = max(1, len(candidates) // max(1, args.freshness_printers))
    chosen = candidates[::step][:args.freshness_printers]
    if chosen:
        delays, polls = measure_freshness(sim, exporter.port, chosen)
        limit = goal.freshness if goal.freshness is not None else 1.0
        if delays:
            p50, worst = statistics.median(delays), max(delays)
            fig["fresh_p50"], fig["fresh_max"] = p50, worst
            fig["fresh_seen"] = f"{len(delays)}/{len(chosen)}"
            ok = len(delays) == len(chosen) and worst <= limit
            print(f"freshness: p50 {ms(p50)}, max {ms(worst)} over {len(delays)}/"
                  f"{len(chosen)} P1/A1-class printers (resolution: a scrape, p50 "
                  f"{ms(statistics.median(polls))}); target max <= {limit:.0f} s: "
                  f"{verdict(ok)}{target_note}", flush=True)
        else:
            print(f"freshness: NOT SEEN on any of {len(chosen)} printers within 10 s; "
                  f"target <= {limit:.0f} s: MISS", flush=True)
    else:
        print("freshness: no P1/A1-class printer up in this fleet (try more printers)",
              flush=True)
    exporter.stop()
    return fig


def side_by_side(n: int, runs: dict[int, dict[str, Any]]) -> None:
    """The runs in columns, with the targets for this fleet size."""
    goal = targets_for(n)

    def cell(fig: dict[str, Any], *keys: str, scale: float = 1000.0, fmt: str = "{:.0f}") -> str:
        values = [fig.get(key) for key in keys]
        if any(v is None or v != v for v in values):   # missing or NaN
            return "-"
        return " / ".join(fmt.format(v * scale) for v in values)

    def target(value: float | None, fmt: str) -> str:
        return "-" if value is None else fmt.format(value)

    rows = [
        ("all printers up (s)", lambda f: cell(f, "up", scale=1, fmt="{:.1f}"),
         target(goal.up, "<= {:.0f}")),
        ("scrape text p50 / p99 (ms)", lambda f: cell(f, "text_p50", "text_p99"),
         target(goal.p50 * 1000, "<= {:.0f}") + ("" if goal.p99 is None
                                                  else f" / {goal.p99 * 1000:.0f}")),
        ("scrape OpenMetrics p50 / p99 (ms)", lambda f: cell(f, "om_p50", "om_p99"),
         target(goal.p50 * 1000, "<= {:.0f}") + ("" if goal.p99 is None
                                                  else f" / {goal.p99 * 1000:.0f}")),
        ("scrape text 1.5 s apart p50 (ms)", lambda f: cell(f, "spaced_p50"), "-"),
        ("collect p50 (ms)", lambda f: cell(f, "collect_p50", fmt="{:.1f}"), "-"),
        ("freshness p50 / max (ms)", lambda f: cell(f, "fresh_p50", "fresh_max"),
         target(None if goal.freshness is None else goal.freshness * 1000, "max <= {:.0f}")),
        ("idle CPU (% of a core)", lambda f: cell(f, "idle_cpu", scale=100),
         target(None if goal.idle_cpu is None else goal.idle_cpu * 100, "<= {:.0f}")),
        ("memory, all processes (MiB)", lambda f: cell(f, "rss", scale=1 / 1024), "-"),
        ("memory per printer beyond empty (KiB)",
         lambda f: cell(f, "kib_per_printer", scale=1), target(goal.kib_per_printer, "<= {:.0f}")),
        ("processes / threads", lambda f: f"{f['processes']} / {f['threads']}", "-"),
    ]
    heads = [f"--workers {w}" for w in runs]
    width = max(len(label) for label, _, _ in rows)
    print(f"side by side: {n} printers (targets for {goal.fleet})", flush=True)
    print(f"  {'':{width}}  " + "  ".join(f"{h:>14}" for h in heads) + f"  {'target':>14}")
    for label, get, wanted in rows:
        print(f"  {label:{width}}  " + "  ".join(f"{get(f):>14}" for f in runs.values())
              + f"  {wanted:>14}", flush=True)


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
