#!/usr/bin/env python3
"""Benchmark: shards of one printer table. Every printer held exactly once, and how many
move when a third exporter joins.

    python bench/bench_shards.py [--printers 1000] [--first-address 127.0.120.1]

What it does, all on this machine:
- makes a throwaway PostgreSQL cluster (initdb in a temporary directory, as the tests
  do) and a `printers` table of --printers rows;
- runs two real exporters on it (`python -m exporter --shard.count 2 --shard.index I`,
  the seed's DB_* variables), scrapes each one's /metrics over HTTP and counts the
  printers each holds (`bambu_printer_info` series and `bambu_inventory_printers`);
- stops them, runs three (`--shard.count 3`), scrapes again, and counts the printers
  whose exporter changed.

Nothing listens on the printers' addresses (loopback, --first-address upward): their
sessions are refused and they show as OFFLINE, which costs the machine little; what is
measured is which exporter lists which printer, not the printers. Everything started is
stopped at the end, on Ctrl-C and on SIGTERM (exit 130). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exporter.inventory.shard import serial_key, shard_of  # noqa: E402
from tests.support.e2e import clean_env, free_port, http_get, parse_samples  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402

MAX_PRINTERS = 5000
PREFIXES = ("00M", "01S", "01P", "22E", "039", "030", "094", "093")


class BenchError(Exception):
    """Something the benchmark needs did not happen; the message says what."""


def addresses(first: str, count: int) -> list[str]:
    """`count` loopback addresses from `first` up, skipping .0 and .255."""
    out: list[str] = []
    address = ipaddress.IPv4Address(first)
    while len(out) < count:
        if address not in ipaddress.IPv4Network("127.0.0.0/8"):
            raise BenchError(f"ran out of loopback addresses after {len(out)}")
        if address.packed[3] not in (0, 255):
            out.append(str(address))
        address += 1
    return out


def table_rows(count: int, first: str, seed: int) -> list[tuple[str, str, str, str]]:
    rng = random.Random(seed)
    serials: set[str] = set()
    while len(serials) < count:
        serials.add(f"{rng.choice(PREFIXES)}{rng.randrange(16**12):012X}")
    return [(f"farm-{i:05d}", ip, serial, f"{rng.randrange(10**8):08d}")
            for i, (ip, serial) in enumerate(zip(addresses(first, count), sorted(serials),
                                                 strict=True))]


class Exporter:
    """One `python -m exporter` shard, its output in a file."""

    def __init__(self, env: dict[str, str], count: int, index: int, logs: Path) -> None:
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = logs / f"exporter-{count}-{index}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--web.listen-address",
                 f"127.0.0.1:{self.port}", "--shard.count", str(count), "--shard.index",
                 str(index), "--log.level", "warning"],
                cwd=ROOT, env=clean_env(env), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def held(self, listed: int, timeout: float) -> tuple[set[str], int]:
        """(serials in /metrics, bambu_inventory_printers), once the exporter has read the
        whole table; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"exporter shard {self.index} exited with "
                                 f"{self.proc.returncode}: see {self.log}")
            try:
                response = http_get(self.url + "/metrics", timeout=10)
                if response.status == 200:
                    samples = parse_samples(response.text)
                    serials = {dict(labels)["serial"] for (name, labels) in samples
                               if name == "bambu_printer_info"}
                    printers = int(samples.get(("bambu_inventory_printers", ()), -1))
                    if samples.get(("bambu_inventory_up", ())) == 1 and printers == len(serials):
                        return serials, printers
            except OSError:
                pass  # not serving yet
            if time.monotonic() > deadline:
                raise BenchError(f"exporter shard {self.index} did not list its printers "
                                 f"within {timeout:.0f}s: see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_shards(env: dict[str, str], count: int, listed: int, logs: Path
               ) -> tuple[list[set[str]], list[int], float]:
    """Start `count` shards, wait until each lists its printers, stop them."""
    started = time.monotonic()
    shards = [Exporter(env, count, index, logs) for index in range(count)]
    try:
        held = [shard.held(listed, timeout=60 + listed * 0.02) for shard in shards]
        return [h[0] for h in held], [h[1] for h in held], time.monotonic() - started
    finally:
        for shard in shards:
            shard.stop()


def report(count: int, table: set[str], held: list[set[str]], printers: list[int],
           seconds: float) -> bool:
    seen: dict[str, int] = {}
    for part in held:
        for serial in part:
            seen[serial] = seen.get(serial, 0) + 1
    twice = sum(1 for n in seen.values() if n > 1)
    missing = len(table - set(seen))
    stray = len(set(seen) - table)
    once = sum(1 for serial, n in seen.items() if n == 1 and serial in table)
    ok = once == len(table) and not twice and not missing and not stray and \
        [len(part) for part in held] == printers
    sizes = ", ".join(f"shard {i} holds {len(part)}" for i, part in enumerate(held))
    print(f"{count} shards: {sizes} (all listing after {seconds:.1f} s); "
          f"{once}/{len(table)} held exactly once, {twice} twice, {missing} missing: "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--first-address", default="127.0.120.1")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    if not 1 <= args.printers <= MAX_PRINTERS:
        parser.error(f"--printers must be 1..{MAX_PRINTERS}")
    try:
        if not ipaddress.IPv4Address(args.first_address).is_loopback:
            raise ValueError
    except ValueError:
        parser.error("--first-address must be in 127.0.0.0/8: the printers' addresses "
                     "stay on loopback")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)

    with ExitStack() as stack:
        try:
            return run(args, stack)
        except KeyboardInterrupt:
            print("bench_shards: interrupted, stopping everything", file=sys.stderr)
            return 130
        except BenchError as exc:
            print(f"bench_shards: error: {exc}", file=sys.stderr)
            return 1


@contextmanager
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def run(args: argparse.Namespace, stack: ExitStack) -> int:
    rows = table_rows(args.printers, args.first_address, args.seed)
    print(f"bench_shards: {len(rows)} printers on {rows[0][1]}..{rows[-1][1]} (nothing "
          "listens there: printers stay OFFLINE; which exporter lists which printer is "
          "what is measured)", flush=True)
    started = time.monotonic()
    cluster = stack.enter_context(postgres())
    dbname = "farm"
    cluster.create_printers_db(dbname)
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, "
                        "access_code) VALUES (%s, %s, %s, %s)", rows)
    conn.close()
    print(f"table: {len(rows)} rows in a throwaway PostgreSQL on 127.0.0.1:{cluster.port} "
          f"({time.monotonic() - started:.1f} s)", flush=True)
    logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-shards-")))
    env = cluster.env(dbname)
    table = {serial for _, _, serial, _ in rows}

    held2, printers2, seconds2 = run_shards(env, 2, len(rows), logs)
    ok = report(2, table, held2, printers2, seconds2)
    held3, printers3, seconds3 = run_shards(env, 3, len(rows), logs)
    ok = report(3, table, held3, printers3, seconds3) and ok

    before = {serial: i for i, part in enumerate(held2) for serial in part}
    after = {serial: i for i, part in enumerate(held3) for serial in part}
    moved = [serial for serial in table if before.get(serial) != after.get(serial)]
    to_new = sum(1 for serial in moved if after.get(serial) == 2)
    predicted = sum(1 for serial in table if shard_of(serial, 2) != shard_of(serial, 3))
    modulo = sum(1 for serial in table if serial_key(serial) % 2 != serial_key(serial) % 3)
    share = len(moved) / len(table)
    moved_ok = to_new == len(moved) == predicted
    print(f"2 -> 3 shards: {len(moved)} of {len(table)} printers moved ({share:.1%}; "
          f"ideal 33.3%), {to_new} of them to the new shard 2, {predicted} predicted by "
          f"the hash alone; modulo hashing would move {modulo} ({modulo / len(table):.1%}): "
          f"{'PASS' if moved_ok else 'FAIL'}", flush=True)
    print("bench_shards: done", flush=True)
    return 0 if ok and moved_ok else 1


if __name__ == "__main__":
    sys.exit(main())
