#!/usr/bin/env python3
"""Benchmark the printer simulator: startup, memory, time to first report, CPU.

Runs `python -m exporter simulate` as a subprocess (so its RSS is its own) and connects
real clients to every printer: the unmodified bambulabs_api (paho-mqtt inside, one network
thread per client, as the exporter runs it). Baseline measured in the same run: a fleet of
one printer (per-printer cost = (fleet - baseline) / (N - 1)), and a general MQTT broker
(mosquitto with TLS, if installed) per printer, the alternative worth weighing.

    python3 bench/bench_simulator.py                 # 1 / 300 / 1000 printers
    python3 bench/bench_simulator.py --sizes 1,50    # quicker

Loopback only, addresses 127.0.160.0 and up by default (--octet). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from bambulabs_api import Printer  # noqa: E402

from exporter.simulator import SimulatorProcess  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def build_clients(rows: list[dict]) -> tuple[list[Printer], threading.Semaphore]:
    """One bambulabs_api client per printer, not started. Built before the clock starts:
    paho's tls_set loads the system CA store for every client (~40 ms each), a cost of
    the client, not of the printers being measured."""
    got = threading.Semaphore(0)
    printers = []
    for row in rows:
        printer = Printer(row["ip"], row["access_code"], row["serial"])
        client = printer.mqtt_client
        client._client.suppress_exceptions = True
        seen = threading.Event()

        def first(*_a: object, seen: threading.Event = seen) -> None:
            if not seen.is_set():
                seen.set()
                got.release()
        client.on_message_handler = first
        printers.append(printer)
    return printers, got


def start_and_wait(printers: list[Printer], got: threading.Semaphore, timeout: float) -> int:
    """mqtt_start() every client; returns how many had a report within `timeout`."""
    t0 = time.monotonic()
    for printer in printers:
        printer.mqtt_start()
    answered = 0
    deadline = t0 + timeout
    while answered < len(printers) and \
            got.acquire(timeout=max(0.0, deadline - time.monotonic())):
        answered += 1
    return answered


def close_all(printers: list[Printer]) -> None:
    for p in printers:
        p.mqtt_client._client.disconnect()
    for p in printers:
        p.mqtt_stop()


def client_worker(rows: list[dict], timeout: float, conn: Connection) -> None:
    """One client process: its share of the sessions. Threads of one process fight over
    the GIL, so the clients are spread over processes to keep them from being the
    bottleneck being measured."""
    printers, got = build_clients(rows)
    conn.send("ready")
    conn.recv()  # go
    answered = start_and_wait(printers, got, timeout)
    conn.send((time.time(), answered))
    conn.recv()  # measurements done
    close_all(printers)
    conn.send("closed")


def run_fleet(size: int, first: str, tmp: Path, timeout: float,
              client_procs: int) -> dict[str, float]:
    inventory = tmp / f"fleet-{size}.yaml"
    t0 = time.monotonic()
    sim = SimulatorProcess.start(["--printers", str(size), "--first-address", first,
                                  "--seed", "1", "--inventory", str(inventory)],
                                 timeout=120)
    ready = time.monotonic() - t0
    ctx = multiprocessing.get_context("spawn")
    workers = []
    try:
        time.sleep(1.0)
        idle_rss = rss_mb(sim.pid)
        rows = yaml.safe_load(inventory.read_text())["printers"]
        procs = max(1, min(client_procs, size))
        for i in range(procs):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_worker, args=(rows[i::procs], timeout, theirs))
            proc.start()
            workers.append((proc, mine))
        for _, pipe in workers:
            pipe.recv()
        go = time.time()
        for _, pipe in workers:
            pipe.send("go")
        done = [pipe.recv() for _, pipe in workers]
        first_all = max(t for t, _ in done) - go
        answered = sum(n for _, n in done)
        time.sleep(2.0)
        cpu0, w0 = cpu_seconds(sim.pid), time.monotonic()
        time.sleep(5.0)
        cpu = (cpu_seconds(sim.pid) - cpu0) / (time.monotonic() - w0)
        busy_rss = rss_mb(sim.pid)
        for _, pipe in workers:
            pipe.send("close")
        for _, pipe in workers:
            pipe.recv()
    finally:
        for proc, _ in workers:
            proc.join(30)
        code = sim.stop()
    return {"printers": size, "ready_s": ready, "first_report_all_s": first_all,
            "start_to_all_s": ready + first_all, "answered": answered, "idle_rss_mb": idle_rss,
            "rss_with_clients_mb": busy_rss, "cpu_cores": cpu, "exit": code}


def run_brokers(count: int, first_octet: int, tmp: Path) -> dict[str, float] | None:
    """mosquitto with TLS + password file per printer: a general broker's cost."""
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                              if Path("/usr/sbin/mosquitto").exists() else None)
    if mosquitto is None:
        return None
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=bench"], check=True,
                   capture_output=True)
    pwfile = tmp / "passwd"
    pwfile.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "bblp", "12345678"], check=True,
                   capture_output=True)
    procs = []
    t0 = time.monotonic()
    try:
        for i in range(count):
            conf = tmp / f"m{i}.conf"
            conf.write_text(f"listener 8883 127.0.{first_octet}.{i + 1}\ncertfile {cert}\n"
                            f"keyfile {key}\npassword_file {pwfile}\nallow_anonymous false\n"
                            "persistence false\nlog_dest none\n"
                            # as root mosquitto drops to its own user, who cannot read tmp
                            + ("user root\n" if os.geteuid() == 0 else ""))
            procs.append(subprocess.Popen([mosquitto, "-c", str(conf)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.5)
        started = time.monotonic() - t0
        alive = [p for p in procs if p.poll() is None]
        total = sum(rss_mb(p.pid) for p in alive)
        return {"brokers": count, "alive": len(alive), "start_s": started,
                "rss_total_mb": total, "rss_per_broker_mb": total / max(1, len(alive))}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,300,1000",
                        help="fleet sizes; the first is the baseline (default 1,300,1000)")
    parser.add_argument("--brokers", type=int, default=50,
                        help="mosquitto processes to sample for the broker comparison")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--client-procs", type=int, default=4,
                        help="processes the bambulabs_api clients are spread over")
    parser.add_argument("--octet", type=int, default=160,
                        help="third octet of the first address (default 127.0.160.1; the "
                             "benchmarks share 127.0.100+, so each picks its own block)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmpdir:
        tmp = Path(tmpdir)
        results = []
        for i, size in enumerate(sizes):
            # fresh addresses per run: 127.0.160.1, then 127.0.164.1, 127.0.168.1, ...
            first = f"127.0.{args.octet + 4 * i}.1"
            print(f"... {size} printers on {first}", file=sys.stderr, flush=True)
            results.append(run_fleet(size, first, tmp, args.timeout, args.client_procs))
        brokers = run_brokers(args.brokers, args.octet + 30, tmp) if args.brokers else None

    print(f"{'printers':>8} {'ready s':>8} {'1st rpt s':>9} {'start->all s':>12} "
          f"{'answered':>8} {'RSS idle MB':>11} {'RSS conn MB':>11} {'CPU cores':>9} {'exit':>4}")
    for r in results:
        print(f"{r['printers']:>8} {r['ready_s']:>8.2f} {r['first_report_all_s']:>9.2f} "
              f"{r['start_to_all_s']:>12.2f} {r['answered']:>8} {r['idle_rss_mb']:>11.1f} "
              f"{r['rss_with_clients_mb']:>11.1f} {r['cpu_cores']:>9.2f} {r['exit']:>4}")
    base = results[0]
    for r in results[1:]:
        n = r["printers"] - base["printers"]
        per_idle = (r["idle_rss_mb"] - base["idle_rss_mb"]) / n * 1024
        per_conn = (r["rss_with_clients_mb"] - base["rss_with_clients_mb"]) / n * 1024
        print(f"{r['printers']} printers vs baseline {base['printers']}: "
              f"{per_idle:.0f} KB/printer idle, {per_conn:.0f} KB/printer with a client; "
              f"startup x{r['ready_s'] / base['ready_s']:.1f} for x{r['printers'] / base['printers']:.0f} "
              f"printers; CPU {1000 * r['cpu_cores'] / r['printers']:.2f} ms/s per printer")
    if brokers:
        per_printer = None
        if len(results) > 1:
            r = results[-1]
            per_printer = (r["rss_with_clients_mb"] - base["rss_with_clients_mb"]) / \
                (r["printers"] - base["printers"])
        print(f"mosquitto (TLS, password file) x{brokers['alive']}: "
              f"{brokers['rss_per_broker_mb'] * 1024:.0f} KB per idle broker process, "
              f"started in {brokers['start_s']:.2f}s"
              + (f"; ratio broker/simulator printer: "
                 f"{brokers['rss_per_broker_mb'] / per_printer:.1f}x (the broker still needs a "
                 f"publisher per printer and cannot hang TLS or cut sessions on demand)"
                 if per_printer else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
