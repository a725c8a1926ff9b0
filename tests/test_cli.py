"""End-to-end tests of the command line: `python -m exporter` as a subprocess, the printer
list in a real PostgreSQL server (the seed's DB_* variables), simulated printers on real
TLS MQTT reached through the exporter's own sessions.

Simulated printers take their addresses from the `addresses` fixture; web ports are
free ports on 127.0.0.1. Every process started here is stopped here.
"""

from __future__ import annotations

import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from exporter.simulator import Fault, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    assert_no_secret,
    clean_env,
    current_state,
    free_port,
    http_get,
    parse_samples,
    run_exporter,
    value,
    wait_until,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.tier("e2e")

GCODE_STATES = {"IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED", "UNKNOWN"}
STATUS_LINE = re.compile(r"^(?P<name>.+): (?P<state>[A-Z]+)$")


def start_fleet(addresses: AddressPool, count: int, seed: int, **kwargs: object) -> SimulatedFleet:
    return SimulatedFleet(count=count, first_address=addresses.take(count).first, seed=seed,
                          **kwargs).start()  # type: ignore[arg-type]


def fresh_db(cluster: PostgresCluster, dbname: str) -> str:
    if not cluster.is_running():
        cluster.start()
    return cluster.create_printers_db(dbname)


def status_lines(stdout: str) -> dict[str, str]:
    """`name: STATE` lines -> {name: state}; any other line on stdout fails the test."""
    lines = {}
    for line in stdout.splitlines():
        match = STATUS_LINE.match(line)
        assert match, f"not a `name: STATE` line on stdout: {line!r}"
        lines[match["name"]] = match["state"]
    return lines


@pytest.fixture
def empty_printers_file(tmp_path: Path) -> str:
    path = tmp_path / "printers.yaml"
    path.write_text("printers:\n")
    return str(path)


# ------------------------------------------------------------------ configuration

def test_nothing_configured_says_how_to_configure() -> None:
    result = run_exporter([], clean_env(), timeout=30)
    assert result.returncode != 0
    assert "no printers configured" in result.stderr
    for way in ("DB_HOST", "DB_PASSWORD", "--printers.file", "--demo"):
        assert way in result.stderr, f"the message should mention {way}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args, env, named", [
    (["--web.listen-address", "nonsense"], {}, "--web.listen-address"),
    (["--printer.staleness", "5x"], {}, "--printer.staleness"),
    ([], {"BAMBU_LOG_LEVEL": "loud"}, "BAMBU_LOG_LEVEL"),
    ([], {"BAMBU_WEB_LISTEN_ADDRESS": "localhost:99999"}, "BAMBU_WEB_LISTEN_ADDRESS"),
    (["--printer.connect-timeout", "0s"], {}, "--printer.connect-timeout"),
], ids=["listen-address", "staleness", "log-level-env", "listen-address-env-port",
        "connect-timeout-zero"])
def test_bad_value_stops_start_up_naming_it(empty_printers_file: str, args: list[str],
                                            env: dict[str, str], named: str) -> None:
    result = run_exporter(["--printers.file", empty_printers_file, *args], clean_env(env),
                          timeout=30)
    assert result.returncode != 0
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_db_port_stops_start_up_naming_it() -> None:
    env = clean_env({"DB_HOST": "127.0.0.1", "DB_PORT": "abc", "DB_NAME": "x",
                     "DB_USER": "u", "DB_PASSWORD": "pw-not-printed-1"})
    result = run_exporter([], env, timeout=30)
    assert result.returncode != 0
    assert "DB_PORT" in result.stderr and "abc" in result.stderr
    assert "pw-not-printed-1" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_unreadable_db_password_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    env = clean_env({"DB_HOST": "127.0.0.1", "DB_NAME": "x", "DB_USER": "u",
                     "DB_PASSWORD_FILE": str(tmp_path / "missing")})
    result = run_exporter([], env, timeout=30)
    assert result.returncode != 0
    assert "DB_PASSWORD_FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_printers_file_and_database_both_set_is_an_error(empty_printers_file: str) -> None:
    env = clean_env({"DB_HOST": "127.0.0.1", "DB_NAME": "x", "DB_USER": "u"})
    result = run_exporter(["--printers.file", empty_printers_file], env, timeout=30)
    assert result.returncode != 0
    assert "--printers.file" in result.stderr
    assert "DB_" in result.stderr
    assert "Traceback" not in result.stderr


def test_listen_address_in_use_stops_start_up(empty_printers_file: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_exporter(["--printers.file", empty_printers_file,
                               "--web.listen-address", f"127.0.0.1:{port}"],
                              clean_env(), timeout=30)
    assert result.returncode != 0
    assert "--web.listen-address" in result.stderr
    assert "in use" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------- a healthy fleet in PostgreSQL

HEALTHY_STATES = ["RUNNING", "IDLE", "PAUSE", "FINISH", "FAILED"]


class Healthy:
    def __init__(self, fleet: SimulatedFleet, cluster: PostgresCluster, dbname: str) -> None:
        self.fleet = fleet
        self.env = clean_env(cluster.env(dbname))
        self.states = {r.name: HEALTHY_STATES[i] for i, r in enumerate(fleet.records)}


@pytest.fixture(scope="module")
def healthy(postgres_cluster: PostgresCluster, addresses: AddressPool) -> Iterator[Healthy]:
    """Five printers, all reachable, states fixed (no simulated life), in the table."""
    fleet = start_fleet(addresses, len(HEALTHY_STATES), seed=41, life=False)
    try:
        for record, state in zip(fleet.records, HEALTHY_STATES, strict=False):
            fleet.printer(record.serial).set_state(state)
        dbname = "familyRewardDbCliHealthy"
        fleet.write_postgres(fresh_db(postgres_cluster, dbname))
        yield Healthy(fleet, postgres_cluster, dbname)
    finally:
        fleet.stop()


def test_serve_from_database_then_sigterm_disconnects_every_printer(healthy: Healthy) -> None:
    fleet = healthy.fleet
    before = {h.serial: h.disconnects for h in fleet.printers()}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = ExporterProcess(["--web.listen-address", f"127.0.0.1:{port}",
                            "--printer.staleness", "5s"], healthy.env)
    try:
        proc.wait_serving(base)

        def all_up() -> dict | None:
            samples = parse_samples(http_get(base + "/metrics").text)
            ok = all(value(samples, "bambu_printer_up", serial=r.serial) == 1.0
                     for r in fleet.records)
            return samples if ok else None
        samples = wait_until(all_up, 30, what="every printer up")
        assert value(samples, "bambu_inventory_up") == 1.0
        assert value(samples, "bambu_inventory_printers") == len(fleet.records)
        for record in fleet.records:
            assert current_state(samples, record.serial) == healthy.states[record.name]
            info = [dict(ls) for (n, ls) in samples if n == "bambu_printer_info"
                    and dict(ls)["serial"] == record.serial]
            assert len(info) == 1 and info[0]["ip"] == record.ip
            assert info[0]["printer"] == record.name
        assert all(h.connections == 1 for h in fleet.printers())
        page = http_get(base + "/").text
        assert "familyRewardDbCliHealthy" in page  # the page says where the list is from
        assert proc.stop() == 0
    finally:
        proc.cleanup()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # The DISCONNECT was flushed before exit; the simulator may count it a moment later.
    wait_until(lambda: all(h.disconnects > before[h.serial] for h in fleet.printers()), 10,
               what="an MQTT DISCONNECT from every session")
    wait_until(lambda: all(h.connections == 0 for h in fleet.printers()), 10,
               what="no session left open")


def test_status_prints_each_printer_and_exits_0(healthy: Healthy) -> None:
    result = run_exporter(["status", "--timeout", "20s"], healthy.env, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert status_lines(result.stdout) == healthy.states
    assert "not-needed-trust-auth" not in result.stdout + result.stderr  # DB_PASSWORD
    wait_until(lambda: all(h.connections == 0 for h in healthy.fleet.printers()), 10,
               what="status to leave no session open")


def test_example_monitor_printers_script(healthy: Healthy) -> None:
    # run as a user would from a checkout: no PYTHONPATH, no installed package needed
    env = {k: v for k, v in healthy.env.items() if k != "PYTHONPATH"}
    result = run_exporter(["--timeout", "20s"], env, timeout=90,
                          script=["examples/monitor_printers.py"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert status_lines(result.stdout) == healthy.states


def test_sigint_with_troubled_printers_exits_0_and_disconnects_the_connected(
        postgres_cluster: PostgresCluster, addresses: AddressPool) -> None:
    # hung (TLS never completes), silent, offline and dropping printers must not hold
    # up shutdown; every session that is connected still says goodbye.
    fleet = start_fleet(addresses, 6, seed=48,
                        faults={"hung": 1, "silent": 1, "offline": 1, "drop": 1})
    proc = None
    try:
        dbname = "familyRewardDbCliTroubled"
        fleet.write_postgres(fresh_db(postgres_cluster, dbname))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = ExporterProcess(["--web.listen-address", f"127.0.0.1:{port}",
                                "--printer.staleness", "5s"],
                               clean_env(postgres_cluster.env(dbname)))
        proc.wait_serving(base)
        healthy = [h for h in fleet.printers() if not h.faults]
        silent = fleet.with_fault(Fault.SILENT)[0]
        wait_until(lambda: all(h.connections == 1 for h in healthy + [silent]), 20,
                   what="the healthy and the silent printer connected")
        connected = [h for h in fleet.printers() if h.connections]
        before = {h.serial: h.disconnects for h in connected}
        assert proc.stop(signum=signal.SIGINT) == 0
        wait_until(lambda: all(h.disconnects > before[h.serial] for h in connected), 10,
                   what="an MQTT DISCONNECT from every connected session")
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    finally:
        if proc is not None:
            proc.cleanup()
        fleet.stop()


# ------------------------------------------------------------- status with trouble

def test_status_fails_when_a_printer_is_offline(postgres_cluster: PostgresCluster,
                                                addresses: AddressPool) -> None:
    fleet = start_fleet(addresses, 3, seed=42, faults={"offline": 1})
    try:
        fleet.write_postgres(fresh_db(postgres_cluster, "familyRewardDbCliOffline"))
        env = clean_env(postgres_cluster.env("familyRewardDbCliOffline"))
        result = run_exporter(["status", "--timeout", "3s"], env, timeout=60)
        offline = fleet.with_fault(Fault.OFFLINE)[0].record
        lines = status_lines(result.stdout)
        assert set(lines) == {r.name for r in fleet.records}
        assert lines[offline.name] == "OFFLINE"
        assert all(state in GCODE_STATES for name, state in lines.items()
                   if name != offline.name), lines
        assert result.returncode != 0
        assert offline.name in result.stderr and "unreachable" in result.stderr
    finally:
        fleet.stop()


def test_status_fails_on_a_wrong_access_code(postgres_cluster: PostgresCluster,
                                              addresses: AddressPool) -> None:
    fleet = start_fleet(addresses, 3, seed=43, faults={"wrong_code": 1})
    try:
        fleet.write_postgres(fresh_db(postgres_cluster, "familyRewardDbCliWrongCode"))
        env = clean_env(postgres_cluster.env("familyRewardDbCliWrongCode"))
        result = run_exporter(["status", "--timeout", "20s"], env, timeout=90)
        bad = fleet.with_fault(Fault.WRONG_CODE)[0].record
        lines = status_lines(result.stdout)
        assert lines[bad.name] == "OFFLINE"
        assert all(state in GCODE_STATES for name, state in lines.items() if name != bad.name)
        assert result.returncode != 0
        assert bad.name in result.stderr and "auth" in result.stderr
        listed = {r.serial: r.access_code for r in fleet.inventory_records()}
        assert_no_secret([bad.access_code, listed[bad.serial]],
                         stdout=result.stdout, stderr=result.stderr)
    finally:
        fleet.stop()


def test_status_ends_within_its_timeout_despite_hung_and_silent_printers(
        postgres_cluster: PostgresCluster, addresses: AddressPool) -> None:
    fleet = start_fleet(addresses, 4, seed=44, faults={"hung": 1, "silent": 1})
    try:
        fleet.write_postgres(fresh_db(postgres_cluster, "familyRewardDbCliHung"))
        env = clean_env(postgres_cluster.env("familyRewardDbCliHung"))
        # Bound: --timeout, plus connect timeout and the fleet's bounded close, plus start-up.
        result = run_exporter(["status", "--timeout", "2s"], env, timeout=45)
        lines = status_lines(result.stdout)
        assert set(lines) == {r.name for r in fleet.records}
        for handle in fleet.with_fault(Fault.HUNG) + fleet.with_fault(Fault.SILENT):
            assert lines[handle.record.name] == "OFFLINE"
        assert result.returncode != 0
    finally:
        fleet.stop()


def test_status_on_an_empty_printer_list_says_so(postgres_cluster: PostgresCluster) -> None:
    # An empty table (a wrong DB_NAME that exists, a table emptied by mistake) must not
    # pass for "every printer is fine": the seed's script is run from cron and checked
    # by its exit code.
    fresh_db(postgres_cluster, "familyRewardDbCliEmpty")
    env = clean_env(postgres_cluster.env("familyRewardDbCliEmpty"))
    result = run_exporter(["status", "--timeout", "2s"], env, timeout=60)
    assert result.stdout == ""
    assert "no printers" in result.stderr.lower(), \
        f"status printed nothing at all about an empty list (exit {result.returncode})"
    assert result.returncode != 0


def test_serve_starts_while_the_database_is_down_and_recovers(
        postgres_cluster: PostgresCluster, addresses: AddressPool) -> None:
    cluster = postgres_cluster
    dbname = "familyRewardDbCliLateDb"
    fleet = start_fleet(addresses, 3, seed=47)
    proc = None
    try:
        fleet.write_postgres(fresh_db(cluster, dbname))
        cluster.stop()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = ExporterProcess(["--web.listen-address", f"127.0.0.1:{port}",
                                "--printer.staleness", "5s"], clean_env(cluster.env(dbname)))
        proc.wait_serving(base)  # serves although the list cannot be read
        samples = parse_samples(http_get(base + "/metrics").text)
        assert value(samples, "bambu_inventory_up") == 0.0
        assert value(samples, "bambu_inventory_printers") == 0.0
        assert (value(samples, "bambu_inventory_errors_total") or 0) >= 1
        cluster.start()
        wait_until(lambda: all(
            value(parse_samples(http_get(base + "/metrics").text), "bambu_printer_up",
                  serial=r.serial) == 1.0 for r in fleet.records), 30,
            what="the printers from the table once the database is back")
        assert proc.stop() == 0
        assert "Traceback" not in proc.stderr
    finally:
        if not cluster.is_running():
            cluster.start()
        if proc is not None:
            proc.cleanup()
        fleet.stop()


# ------------------------------------------------------------------------ demo

def test_demo_serves_a_fleet_where_things_go_wrong(addresses: AddressPool) -> None:
    """--demo shows trouble at once: an HMS warning, a serious HMS message, a failed
    print, a run-out pause, a wrong access code and an unreachable printer."""
    port = free_port()
    demo = addresses.take(12)
    base = f"http://127.0.0.1:{port}"
    proc = ExporterProcess(["--demo", "--demo.first-address", demo.first,
                            "--web.listen-address", f"127.0.0.1:{port}"], clean_env({}))

    def of(samples: dict, name: str) -> dict[str, dict[str, float]]:
        """{printer: {other labels joined: value}} of one family."""
        out: dict[str, dict[str, float]] = {}
        for (n, labels), v in samples.items():
            if n == name:
                rest = dict(labels)
                printer = rest.pop("printer")
                out.setdefault(printer, {})[",".join(f"{k}={x}" for k, x in
                                                     sorted(rest.items()) if k != "serial")] = v
        return out

    try:
        proc.wait_serving(base, timeout=60)

        def troubled() -> dict | None:
            samples = parse_samples(http_get(base + "/metrics").text)
            up = [v for (n, _), v in samples.items() if n == "bambu_printer_up"]
            errors = of(samples, "bambu_printer_connection_errors_total")
            reasons = {key for per in errors.values() for key, v in per.items() if v > 0}
            ready = (len(up) == 12 and sum(up) == 10
                     and {"reason=auth", "reason=refused"} <= reasons)
            return samples if ready else None
        samples = wait_until(troubled, 60, what="the demo fleet and its trouble")
        ips = [dict(ls)["ip"] for (n, ls) in samples if n == "bambu_printer_info"]
        assert len(ips) == 12 and set(ips) == set(demo.all)

        errors = of(samples, "bambu_printer_connection_errors_total")
        up = {p: v[""] for p, v in of(samples, "bambu_printer_up").items()}
        down = {p for p, v in up.items() if v == 0}
        by_reason = {reason: {p for p in down if errors[p][f"reason={reason}"] > 0}
                     for reason in ("auth", "refused")}
        assert len(by_reason["auth"]) == 1 and len(by_reason["refused"]) == 1
        assert by_reason["auth"] | by_reason["refused"] == down

        states = {p: next(k.removeprefix("state=") for k, v in per.items() if v == 1)
                  for p, per in of(samples, "bambu_printer_state").items()}
        stages = {p: dict(kv.split("=", 1) for kv in next(iter(per)).split(","))["stage"]
                  for p, per in of(samples, "bambu_printer_stage_info").items()}
        assert "FAILED" in states.values()
        assert any(states[p] == "PAUSE" and stages.get(p) == "PAUSED_FILAMENT_RUNOUT"
                   for p in states)
        hms = of(samples, "bambu_printer_hms_errors")
        serious = {p for p, per in hms.items() if per["severity=serious"] > 0}
        others = {p for p, per in hms.items()
                  if per["severity=common"] + per["severity=info"] > 0}
        assert serious and others and len(serious | others) >= 2
        # words for every HMS message, from the simulator's stand-in of Bambu's service
        described = [dict(ls)["description"] for (n, ls) in samples
                     if n in ("bambu_printer_hms_error_info", "bambu_printer_print_error_info")]
        assert described and all(described), described
        assert proc.stop() == 0
    finally:
        proc.cleanup()
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


# --------------------------------------------------------------------- no secret leaks

SECRET_ROLE = "bambu_e2e_reader"
SECRET_PASSWORD = "Zq8 xK2'vR7-e2e-bambu"  # a space and a quote: DSN quoting is exercised
URL_PASSWORD = "UrlPw-e2e-9c41"  # wrong on purpose: the failure message must not hold it


def password_role(cluster: PostgresCluster, dbname: str) -> None:
    """A role that must give its password (scram), even though the cluster trusts others."""
    hba = cluster.data / "pg_hba.conf"
    line = f"host all {SECRET_ROLE} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(line + text)
    conn = cluster.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SECRET_ROLE,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE ROLE {SECRET_ROLE} LOGIN")
        cur.execute(f"ALTER ROLE {SECRET_ROLE} PASSWORD %s", (SECRET_PASSWORD,))
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.execute(f"GRANT SELECT ON printers TO {SECRET_ROLE}")
    conn.close()
    # the password is really checked
    dsn = f"host={cluster.host} port={cluster.port} dbname={dbname} user={SECRET_ROLE}"
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(dsn, password="wrong", connect_timeout=5).close()
    psycopg2.connect(dsn, password=SECRET_PASSWORD, connect_timeout=5).close()


def test_no_secret_leaks(postgres_cluster: PostgresCluster, addresses: AddressPool) -> None:
    cluster = postgres_cluster
    dbname = "familyRewardDbCliSecrets"
    fleet = start_fleet(addresses, 4, seed=45, faults={"wrong_code": 1})
    proc = None
    try:
        fleet.write_postgres(fresh_db(cluster, dbname))
        password_role(cluster, dbname)
        bad = fleet.with_fault(Fault.WRONG_CODE)[0].record
        listed = fleet.inventory_records()
        secrets = [SECRET_PASSWORD, *(r.access_code for r in fleet.records),
                   *(r.access_code for r in listed)]
        assert len(set(secrets)) == len(fleet.records) + 2  # the wrong code is a new one
        env = clean_env({**cluster.env(dbname), "DB_USER": SECRET_ROLE,
                         "DB_PASSWORD": SECRET_PASSWORD})
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        seen: dict[str, str] = {}

        def fetch(path: str, tag: str) -> str:
            text = http_get(base + path).text
            seen[f"{tag} {path}"] = text
            return text

        proc = ExporterProcess(["--web.listen-address", f"127.0.0.1:{port}",
                                "--printer.staleness", "5s", "--inventory.timeout", "1s",
                                "--log.level", "debug"], env)
        proc.wait_serving(base)
        good = [r for r in fleet.records if r.serial != bad.serial]

        def connected_and_refused() -> dict | None:
            samples = parse_samples(fetch("/metrics", "steady"))
            ok = (all(value(samples, "bambu_printer_up", serial=r.serial) == 1.0 for r in good)
                  and (value(samples, "bambu_printer_connection_errors_total",
                             serial=bad.serial, reason="auth") or 0) >= 1)
            return samples if ok else None
        samples = wait_until(connected_and_refused, 30,
                             what="good printers up, the wrong code refused")
        assert value(samples, "bambu_inventory_up") == 1.0  # the password was used
        page = fetch("/", "steady")
        assert bad.name in page and "access code rejected" in page  # why, without the code

        # a database outage: the last good list stays in use, the failure is reported
        cluster.stop()
        try:
            def inventory_down() -> dict | None:
                samples = parse_samples(fetch("/metrics", "outage"))
                return samples if value(samples, "bambu_inventory_up") == 0.0 else None
            samples = wait_until(inventory_down, 20, what="bambu_inventory_up 0")
            assert (value(samples, "bambu_inventory_errors_total") or 0) >= 1
            assert value(samples, "bambu_inventory_printers") == len(fleet.records)
            for record in good:
                assert value(samples, "bambu_printer_up", serial=record.serial) == 1.0
            assert 'id="inventory-down"' in fetch("/", "outage")  # the page says so too
            # status during the outage fails with a message, not a secret
            outage_status = run_exporter(["status", "--timeout", "2s", "--log.level", "debug"],
                                         env, timeout=60)
            assert outage_status.returncode != 0
            assert "printer list" in outage_status.stderr
            seen["outage status stdout"] = outage_status.stdout
            seen["outage status stderr"] = outage_status.stderr
        finally:
            cluster.start()
        wait_until(lambda: value(parse_samples(fetch("/metrics", "recovered")),
                                 "bambu_inventory_up") == 1.0, 30,
                   what="bambu_inventory_up back to 1")
        assert 'id="inventory-down"' not in fetch("/", "recovered")
        assert proc.stop() == 0
        seen["serve stdout"] = proc.stdout
        seen["serve stderr"] = proc.stderr
        # the debug log really covered the failures it must describe without secrets
        assert bad.name in proc.stderr
        assert "inventory" in proc.stderr

        status = run_exporter(["status", "--timeout", "20s", "--log.level", "debug"], env,
                              timeout=90)
        assert status.returncode != 0 and status_lines(status.stdout)[bad.name] == "OFFLINE"
        seen["status stdout"] = status.stdout
        seen["status stderr"] = status.stderr

        wrong_password = clean_env({**env, "DB_PASSWORD": SECRET_PASSWORD + "-wrong"})
        denied = run_exporter(["status"], wrong_password, timeout=60)  # default log level
        assert denied.returncode != 0
        assert "password authentication failed" in denied.stderr or \
            "printer list" in denied.stderr
        seen["denied stdout"] = denied.stdout
        seen["denied stderr"] = denied.stderr
        secrets.append(SECRET_PASSWORD + "-wrong")

        # the password inside --database-url (URL form) is no safer to print
        url_env = clean_env()
        url = (f"postgresql://{SECRET_ROLE}:{URL_PASSWORD}@{cluster.host}:{cluster.port}"
               f"/{dbname}")
        by_url = run_exporter(["status", "--database-url", url, "--log.level", "debug"],
                              url_env, timeout=60)
        assert by_url.returncode != 0
        seen["url stdout"] = by_url.stdout
        seen["url stderr"] = by_url.stderr
        secrets.append(URL_PASSWORD)

        assert_no_secret(secrets, **{re.sub(r"\W", "_", k): v for k, v in seen.items()})
    finally:
        if not cluster.is_running():
            cluster.start()
        if proc is not None:
            proc.cleanup()
        fleet.stop()
