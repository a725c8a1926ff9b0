#!/usr/bin/env python3
"""Benchmark: job files over FTPS.

    python bench/bench_job_files.py [--printers 1000] [--spread 60] [--first-address 127.0.130.1]
                                    [--size-mb 50]

0. What a scrape's worker answer costs per changed printer while jobs run: 1000 printer
   views (the ones a worker sends the main process with its lines) pickled and unpickled
   with the job's plan in them and with the filament counters only, in this run.
1. Bytes read per job for a --size-mb 3MF: the plan read by range (SIZE + REST: the ZIP's
   end of central directory and the one member) against the whole-file download, from one
   simulated printer's FTPS, in this run.
2. --printers printers starting jobs within --spread seconds, the exporter run twice on the
   same fleet, once with --printer.ftps and once with --no-printer.ftps: scrape p50 and
   freshness (the age of X1-class printers' last report at each scrape; they report every
   second) during the spread of each run, the ratio of the two, the plans read, and the most
   FTPS sessions the printers saw open at once (the fleet-wide cap: 4 per exporter process).

Two processes so that the scraper and the simulator do not share a GIL: this script (the
scraper) and the simulated fleet (this script again as --simulator-child, taking commands
on stdin). Every wait is bounded; everything started is stopped. Traffic stays on loopback.
Ports 990 need root.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exporter.printer.job_file.book import FilamentStatus  # noqa: E402
from exporter.printer.job_file.fetch import FetchTarget, fetch_plan  # noqa: E402
from exporter.printer.job_file.plan import JobPlan, PlannedFilament  # noqa: E402
from exporter.printer.job_file.trays import TrayRef  # noqa: E402
from exporter.printer.jobs import Job  # noqa: E402
from exporter.printer.status import PrinterStatus  # noqa: E402
from exporter.simulator.fleet import SimulatedFleet  # noqa: E402

# ------------------------------------------------------------------ the simulator child

def simulator_child(printers: int, first: str, seed: int) -> None:
    fleet = SimulatedFleet(count=printers, first_address=first, seed=seed, life=False,
                           ftps=True, file_delay=0.0)
    fleet.start()
    rows = [{"name": r.name, "ip": r.ip, "serial": r.serial, "access_code": r.access_code}
            for r in fleet.records]
    print(json.dumps({"ready": rows}), flush=True)
    handles = fleet.printers()
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "jobs":   # every printer starts a job, spread over `spread` s
            spread = float(command["spread"])
            rng = random.Random(command["seed"])
            order = sorted(handles, key=lambda _: rng.random())
            began = time.monotonic()
            for i, handle in enumerate(order):
                due = began + spread * i / len(order)
                time.sleep(max(0.0, due - time.monotonic()))
                handle.set_state("PREPARE")
                handle.set_state("RUNNING")
            print(json.dumps({"started": len(order)}), flush=True)
        elif command["do"] == "idle":
            for handle in handles:
                handle.set_state("IDLE")
            print(json.dumps({"idle": True}), flush=True)
        elif command["do"] == "sessions":
            sessions, peak = fleet.ftps_sessions()
            print(json.dumps({"sessions": sessions, "peak": peak}), flush=True)
        elif command["do"] == "stop":
            break
    fleet.stop()


class Child:
    def __init__(self, printers: int, first: str, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--simulator-child", "--printers", str(printers),
             "--first-address", first, "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def read(self, timeout: float) -> dict[str, Any]:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            raise SystemExit(f"simulator gave no answer within {timeout:.0f} s")
        return json.loads(box[0])

    def send(self, **command: Any) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(do="stop")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ part 0: the views

def views_cost(count: int = 1000, rounds: int = 7) -> None:
    import pickle

    def view(i: int) -> PrinterStatus:
        filaments = tuple(PlannedFilament(k, "GFA00", "PLA", "#FFFFFF", 12.5 + i, 4.1)
                          for k in range(1, 5))
        filament = FilamentStatus(JobPlan(1, 3600.0 + i, 50.0, filaments),
                                  tuple((f, TrayRef("0", str(k))) for k, f in enumerate(filaments)),
                                  True, {"no_file": 1}, used_grams={"PLA": float(i)})
        return PrinterStatus(f"p{i}", f"00M{i:09d}", "127.0.0.1", "X1C", "01.08", True, True,
                             1.0, None, connection_errors={"refused": 1},
                             job=Job(1, 1.0 + i, True, "job", "job.gcode.3mf", "1", "2", None,
                                     0.5, 3), filament=filament)

    figures = {}
    for label, cut in (("with the plan", False), ("counters only", True)):
        views = [view(i) for i in range(count)]
        if cut:
            views = [dataclasses.replace(v, filament=v.filament.counters_only())  # type: ignore[union-attr]
                     for v in views]
        # the fastest of a few rounds: the least disturbed by a busy machine
        dumps = loads = float("inf")
        for _ in range(rounds):
            began = time.perf_counter()
            body = pickle.dumps(views, protocol=5)
            dumps = min(dumps, time.perf_counter() - began)
            began = time.perf_counter()
            pickle.loads(body)
            loads = min(loads, time.perf_counter() - began)
        figures[label] = (len(body), dumps, loads)
        print(f"{count} changed printers' views {label}: {len(body) / 1024:.0f} KiB, pickled "
              f"in {dumps * 1000:.1f} ms (worker), unpickled in {loads * 1000:.1f} ms (main)")
    (b1, d1, l1), (b2, d2, l2) = figures["with the plan"], figures["counters only"]
    print(f"ratio with the plan / counters only: bytes {b1 / b2:.2f}, pickling {d1 / d2:.2f}, "
          f"unpickling {l1 / l2:.2f}")


# ------------------------------------------------------------------ part 1: bytes per job

def bytes_per_job(size_mb: int, address: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-3mf-") as tmp, \
            SimulatedFleet(count=1, first_address=address, life=False, ftps=True,
                           faults={"big_3mf": 1}, big_3mf_size=size_mb * 1000 * 1000) as fleet:
        handle = fleet.printers()[0]
        handle.plan_filaments(4)
        handle.set_state("PREPARE")
        printed = handle.report()["print"]
        target = FetchTarget(handle.record.ip, handle.record.access_code,
                             printed["subtask_name"], printed["gcode_file"])
        # the big file is written off the simulator's loop: wait for it
        end = time.monotonic() + 120
        while True:
            try:
                ranged = fetch_plan(target, time.monotonic() + 60)
                break
            except Exception as exc:  # noqa: BLE001 - no_file until written
                if time.monotonic() > end:
                    raise SystemExit(f"no 3MF to read: {exc}") from None
                time.sleep(0.5)
        began = time.monotonic()
        ranged = fetch_plan(target, time.monotonic() + 60)
        ranged_s = time.monotonic() - began
        began = time.monotonic()
        whole = fetch_plan(target, time.monotonic() + 120, temp_dir=tmp, ranged=False)
        whole_s = time.monotonic() - began
    assert ranged.plan == whole.plan
    print(f"bytes per job ({size_mb} MB 3MF): ranged {ranged.bytes_read} B "
          f"({ranged.bytes_read / 1024:.0f} KiB, {ranged_s * 1000:.0f} ms), whole "
          f"{whole.bytes_read} B ({whole.bytes_read / 2**20:.1f} MiB, {whole_s * 1000:.0f} ms); "
          f"ratio whole/ranged {whole.bytes_read / ranged.bytes_read:.0f}x; target < 1 MiB "
          f"ranged: {'PASS' if ranged.bytes_read < 2**20 else 'MISS'}")


# ------------------------------------------------------------------ part 2: the fleet

def scrape(port: int) -> tuple[float, str]:
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    return time.monotonic() - began, body


def report_ages(body: str, now: float, serials: set[str]) -> list[float]:
    ages = []
    for line in body.splitlines():
        if line.startswith("bambu_printer_last_report_timestamp_seconds{"):
            serial = line.split('serial="', 1)[1].split('"', 1)[0]
            if serial in serials:
                ages.append(now - float(line.rsplit(" ", 1)[1]))
    return ages


def run_exporter(rows: list[dict[str, str]], ftps: bool, child: Child, spread: float,
                 seed: int, full_report: set[str], settle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        inventory = Path(tmp) / "printers.yaml"
        inventory.write_text(json.dumps({"printers": rows}))
        port = free_port()
        args = [sys.executable, "-m", "exporter", "--printers.file", str(inventory),
                "--web.listen-address", f"127.0.0.1:{port}",
                "--printer.ftps" if ftps else "--no-printer.ftps"]
        exporter = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            end = time.monotonic() + 60 + len(rows) * 0.1
            while True:
                try:
                    _, body = scrape(port)
                    if body.count("bambu_printer_up{") == len(rows) and \
                            sum(1 for ln in body.splitlines()
                                if ln.startswith("bambu_printer_up{") and ln.endswith(" 1.0")) == len(rows):
                        break
                except OSError:
                    pass
                if time.monotonic() > end:
                    raise SystemExit("not every printer came up")
                time.sleep(0.2)
            child.send(do="sessions")
            before = child.read(30)
            child.send(do="jobs", spread=spread, seed=seed)
            latencies: list[float] = []
            ages: list[float] = []
            sizes: list[int] = []
            stop_at = time.monotonic() + spread + settle
            while time.monotonic() < stop_at:
                took, body = scrape(port)
                latencies.append(took)
                sizes.append(len(body))
                batch = report_ages(body, time.time(), full_report)
                if batch:
                    ages.append(statistics.quantiles(batch, n=100)[98] if len(batch) > 1 else batch[0])
                time.sleep(0.5)
            started = child.read(spread + 60)
            assert started.get("started") == len(rows), started
            # the plans (with FTPS): every job's, or the reason
            _, body = scrape(port)
            plans = sum(1 for ln in body.splitlines()
                        if ln.startswith("bambu_printer_job_planned_weight_grams{"))
            errors = sum(float(ln.rsplit(" ", 1)[1]) for ln in body.splitlines()
                         if ln.startswith("bambu_printer_job_fetch_errors_total{"))
            child.send(do="sessions")
            after = child.read(30)
            child.send(do="idle")
            child.read(120)
        finally:
            exporter.terminate()
            try:
                exporter.wait(30)
            except subprocess.TimeoutExpired:
                exporter.kill()
                exporter.wait()
    return {"p50": statistics.median(latencies), "p99": statistics.quantiles(latencies, n=100)[98],
            "scrapes": len(latencies), "freshness": statistics.median(ages),
            "kib": statistics.median(sizes) / 1024,
            "plans": plans, "errors": errors,
            "sessions": after["sessions"] - before["sessions"], "peak": after["peak"]}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--first-address", default="127.0.130.1")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds of scraping after the last job started")
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--bytes-address", default="127.0.129.1",
                        help="the one printer of the bytes-per-job part")
    parser.add_argument("--bytes-only", action="store_true",
                        help="only the bytes-per-job part")
    parser.add_argument("--simulator-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.simulator_child:
        simulator_child(args.printers, args.first_address, args.seed)
        return 0
    views_cost()
    bytes_per_job(args.size_mb, args.bytes_address)
    if args.bytes_only:
        return 0
    child = Child(args.printers, args.first_address, args.seed)
    try:
        rows = child.read(300)["ready"]
        full = {r["serial"] for r in rows
                if r["serial"][:3] in ("00M", "03W", "094", "093", "239", "31B", "20P")}
        results = {}
        for ftps in (False, True):
            results[ftps] = run_exporter(rows, ftps, child, args.spread, args.seed, full,
                                         args.settle)
            r = results[ftps]
            print(f"{'with FTPS' if ftps else 'without FTPS'}: {args.printers} printers starting "
                  f"jobs within {args.spread:.0f} s: scrape p50 {r['p50'] * 1000:.0f} ms, p99 "
                  f"{r['p99'] * 1000:.0f} ms over {r['scrapes']} scrapes ({r['kib']:.0f} KiB "
                  f"each, median); freshness (p99 report "
                  f"age of X1-class printers, median over scrapes) {r['freshness']:.2f} s; plans "
                  f"shown {r['plans']:.0f}, fetch errors {r['errors']:.0f}; FTPS sessions "
                  f"{r['sessions']}, most at once {r['peak']}", flush=True)
        on, off = results[True], results[False]
        p50 = on["p50"] / off["p50"]
        fresh = on["freshness"] / off["freshness"]
        # the plans add series (a few per printer): scrape time per KiB tells the fetching's
        # cost apart from the bigger exposition's
        per_kib = (on["p50"] / on["kib"]) / (off["p50"] / off["kib"])
        print(f"ratio with/without FTPS: scrape p50 {p50:.2f} (bytes {on['kib'] / off['kib']:.2f}, "
              f"p50 per KiB {per_kib:.2f}), freshness {fresh:.2f}; target "
              f"within 10 %: {'PASS' if p50 <= 1.1 and fresh <= 1.1 else 'MISS'}; fleet-wide cap "
              f"(4 per exporter process): most at once {on['peak']}")
    finally:
        child.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
