"""docker-compose.yml, Dockerfile, .env.example and the PostgreSQL init script, tested
without a Docker engine: paths, flags against the real binaries' --help, variables,
secrets, and the init SQL run on a real PostgreSQL server."""

from __future__ import annotations

import re
import subprocess

import pytest
import tomllib

from tests.monitoring.stack import COMPOSE, PYTHON, ROOT, binary, load_yaml, run
from tests.support.postgres import _pg_bin

pytestmark = pytest.mark.tier("e2e")

SERVICES = {"postgres", "hms-texts", "exporter", "simulator", "hms-texts-demo", "prometheus",
            "alertmanager", "grafana"}
DEMO = {"simulator", "hms-texts-demo"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def _help_flags(*cmd: str) -> set[str]:
    result = run(*cmd, "--help")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    return set(re.findall(r"(--[a-z][\w.-]*)", text))


def _flags(command: list[str]) -> set[str]:
    return {token.split("=", 1)[0] for token in command if token.startswith("--")}


def _volumes(service: dict) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]


def test_services_and_the_demo_profile(compose) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    assert all(services[name]["profiles"] == ["demo"] for name in DEMO)
    assert all("profiles" not in s for name, s in services.items() if name not in DEMO)
    # The simulated printers (and the texts stand-in) listen on loopback addresses: the
    # exporter, and the demo's fetch, must share them.
    assert services["simulator"]["network_mode"] == "service:exporter"
    assert services["hms-texts-demo"]["network_mode"] == "service:exporter"


def test_the_texts_are_fetched_before_the_exporter_into_the_file_it_reads(compose) -> None:
    services = compose["services"]
    fetch, demo, exporter = (services[n] for n in ("hms-texts", "hms-texts-demo", "exporter"))
    assert exporter["depends_on"]["hms-texts"]["condition"] == "service_completed_successfully"
    assert demo["depends_on"]["simulator"]["condition"] == "service_started"
    command = exporter["command"]
    path = command[command.index("--hms.text-file") + 1]
    for one in (fetch, demo):
        assert one["environment"]["BAMBU_HMS_TEXT_FILE"] == path
        assert "bambu-exporter hms-texts fetch" in one["entrypoint"][2]
        assert one["restart"] == "no"
    assert ("hms-texts", "/var/lib/bambu-exporter") in _volumes(fetch)
    assert ("hms-texts", "/var/lib/bambu-exporter") in _volumes(exporter)
    assert exporter["volumes"][0].endswith(":ro")
    # the demo's fetch asks the simulator's stand-in, where the simulator serves it
    simulator = services["simulator"]["command"]
    stand_in = simulator[simulator.index("--texts-service") + 1]
    assert demo["command"][demo["command"].index("--hms.service-url") + 1] == \
        f"http://{stand_in}"
    # a failed fetch must not keep the exporter down: the wrapper always exits 0
    assert "|| echo" in fetch["entrypoint"][2]
    fetch_flags = _help_flags(PYTHON, "-m", "exporter", "hms-texts")
    for one in (fetch, demo):
        assert _flags(one["command"]) <= fetch_flags
    assert "/var/lib/bambu-exporter" in (ROOT / "Dockerfile").read_text()


def test_every_bind_mounted_path_exists(compose) -> None:
    named = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for source, _target in _volumes(service):
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} not declared"


def _host_path(service: dict, container_path: str):
    for source, target in _volumes(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return ROOT / source / container_path[len(target):].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted")


def test_config_files_named_on_command_lines_are_the_repos(compose) -> None:
    services = compose["services"]
    for name, flag, expected in (("prometheus", "--config.file", "prometheus/prometheus.yml"),
                                 ("alertmanager", "--config.file", "alertmanager/alertmanager.yml")):
        (value,) = [t.split("=", 1)[1] for t in services[name]["command"] if t.startswith(flag)]
        assert _host_path(services[name], value) == ROOT / expected
    grafana = services["grafana"]
    assert _host_path(grafana, "/etc/grafana/provisioning") == ROOT / "grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert _host_path(grafana, home) == ROOT / "grafana/dashboards/bambu-fleet.json"
    provider = load_yaml(ROOT / "grafana/provisioning/dashboards/bambu.yml")["providers"][0]
    assert _host_path(grafana, provider["options"]["path"]) == ROOT / "grafana/dashboards"
    assert _host_path(services["postgres"], "/docker-entrypoint-initdb.d") == ROOT / "docker/postgres/init"


def test_hostnames_in_the_configs_are_compose_services(compose) -> None:
    services = compose["services"]
    prometheus = load_yaml(ROOT / "prometheus/prometheus.yml")
    targets = [t for job in prometheus["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]
    targets += prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        host = target.split(":")[0]
        assert host == "localhost" or host in services, target
    assert "exporter:9851" in targets and "alertmanager:9093" in targets
    assert ":9851" in services["exporter"]["command"]
    datasource = load_yaml(ROOT / "grafana/provisioning/datasources/prometheus.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    for name in ("exporter", "simulator"):
        assert services[name]["environment"]["DB_HOST"] in services


def test_exporter_and_simulator_commands_use_real_flags(compose) -> None:
    services = compose["services"]
    serve = _help_flags(PYTHON, "-m", "exporter")
    simulate = _help_flags(PYTHON, "-m", "exporter", "simulate")
    assert _flags(services["exporter"]["command"]) <= serve
    command = services["simulator"]["command"]
    assert command[0] == "simulate"
    assert _flags(command) <= simulate
    assert {"--printers", "--hms", "--fail", "--offline"} <= _flags(command)


def test_prometheus_and_alertmanager_commands_use_real_flags(compose) -> None:
    services = compose["services"]
    assert _flags(services["prometheus"]["command"]) <= _help_flags(binary("prometheus"))
    assert _flags(services["alertmanager"]["command"]) <= _help_flags(
        binary("prometheus-alertmanager"))


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def test_every_variable_the_compose_file_needs_is_in_env_example() -> None:
    text = "\n".join(line for line in COMPOSE.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    example = _env_example()
    for match in re.finditer(r"\$\{(\w+)(:?[-?])?([^}]*)\}", text):
        name, kind = match.group(1), match.group(2)
        if kind in (":-", "-"):
            continue
        assert name in example, f"${{{name}}} is required but missing from .env.example"
    assert "$$POSTGRES_USER" in text  # escaped: the container's variable, not compose's


def test_secrets_come_from_env_only(compose) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_CODE|API_KEY", re.I)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", str(value)), f"{name}.{key}: {value}"
    for path in ("prometheus/prometheus.yml", "alertmanager/alertmanager.yml",
                 "grafana/provisioning/datasources/prometheus.yml"):
        assert not re.search(r"password\s*:", (ROOT / path).read_text(), re.I), path
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT,
                             capture_output=True)
    assert tracked.returncode != 0, ".env must not be committed"


def test_dockerfile_installs_the_package_and_runs_its_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "bambu-exporter" in pyproject["project"]["scripts"]
    assert 'ENTRYPOINT ["bambu-exporter"]' in dockerfile
    assert "EXPOSE 9851" in dockerfile
    assert "openssl" in dockerfile  # the simulator's certificate
    ignore = (ROOT / ".dockerignore").read_text().split()
    for path in ("!pyproject.toml", "!README.md", "!exporter/"):
        assert path in ignore


def test_init_sql_creates_the_database_and_table_the_exporter_reads(postgres_cluster) -> None:
    cluster = postgres_cluster
    conn = cluster.connect()
    with conn.cursor() as cur:
        cur.execute('DROP DATABASE IF EXISTS "familyRewardDb"')
    conn.close()
    for script in sorted((ROOT / "docker/postgres/init").glob("*.sql")):
        result = run(_pg_bin("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-h", cluster.host,
                     "-p", str(cluster.port), "-U", cluster.user, "-d", "postgres", "-f", str(script))
        assert result.returncode == 0, result.stdout + result.stderr
    conn = cluster.connect("familyRewardDb")
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)"
                        " VALUES ('x1c-001', '127.0.50.9', '00M09A000000001', '12345678')")
            cur.execute("SELECT printer_name, printer_ip, printer_bambu_id, access_code FROM printers")
            assert cur.fetchall() == [("x1c-001", "127.0.50.9", "00M09A000000001", "12345678")]
    finally:
        conn.close()
        conn = cluster.connect()
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "familyRewardDb"')
        conn.close()


def test_published_ports_listen_on_loopback_by_default(compose) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host = str(port).rsplit(":", 2)[0]
            assert host in ("127.0.0.1", "${PUBLISH_ADDRESS:-127.0.0.1}"), (name, port)
    # how to open them is written where a user looks
    assert "PUBLISH_ADDRESS=" in (ROOT / ".env.example").read_text()


def test_the_exporter_connects_as_the_read_only_role(compose, postgres_cluster) -> None:
    """The init scripts (SQL and the role script) on a real server: the exporter's role
    reads the printers table and can change nothing."""
    import os

    import psycopg2

    exporter_env = compose["services"]["exporter"]["environment"]
    assert exporter_env["DB_USER"] == "exporter"
    assert "EXPORTER_DB_PASSWORD" in exporter_env["DB_PASSWORD"]
    assert "EXPORTER_DB_PASSWORD" in compose["services"]["postgres"]["environment"]
    cluster = postgres_cluster
    if not cluster.is_running():
        cluster.start()
    _drop_demo_database(cluster)
    env = {**os.environ, "PGHOST": cluster.host, "PGPORT": str(cluster.port),
           "POSTGRES_USER": cluster.user, "EXPORTER_DB_PASSWORD": "it's-a-secret",
           "PATH": f"{os.path.dirname(_pg_bin('psql'))}:{os.environ['PATH']}"}
    for script in sorted((ROOT / "docker/postgres/init").iterdir()):
        if script.suffix == ".sql":
            command = [_pg_bin("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-U", cluster.user,
                       "-d", "postgres", "-f", str(script)]
        else:
            command = ["sh", str(script)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "it's-a-secret" not in result.stdout + result.stderr
    owner = cluster.connect("familyRewardDb")
    owner.autocommit = True
    with owner.cursor() as cur:
        cur.execute("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, "
                    "access_code) VALUES ('x1c-001', '127.0.50.9', '00M09A000000001', '1')")
    owner.close()
    conn = psycopg2.connect(host=cluster.host, port=cluster.port, user="exporter",
                            dbname="familyRewardDb")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT printer_name, printer_ip, printer_bambu_id, access_code "
                        "FROM printers")
            assert cur.fetchall() == [("x1c-001", "127.0.50.9", "00M09A000000001", "1")]
            for statement in ("DELETE FROM printers",
                              "INSERT INTO printers (printer_name, printer_ip, "
                              "printer_bambu_id, access_code) VALUES ('a', 'b', 'c', 'd')",
                              "CREATE TABLE mine (x int)"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        conn.close()
        _drop_demo_database(cluster)


def _drop_demo_database(cluster) -> None:
    """What the init scripts create, gone, so that they run as on a fresh volume."""
    conn = cluster.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('DROP DATABASE IF EXISTS "familyRewardDb"')
        cur.execute("DROP ROLE IF EXISTS exporter")
    conn.close()


def _run_entrypoint(service: dict, command: list[str], env: dict[str, str]
                    ) -> subprocess.CompletedProcess[str]:
    """The service's `sh -c` entrypoint as the container runs it (Compose turns `$$`
    into `$`), with this checkout's bambu-exporter on PATH."""
    import os
    import sys
    shell, flag, script, name = service["entrypoint"]
    bin_dir = os.path.dirname(sys.executable)
    return subprocess.run([shell, flag, script.replace("$$", "$"), name, *command],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env})


def test_the_fetch_wrappers_run_and_never_hold_the_exporter_back(compose, tmp_path) -> None:
    from exporter.simulator.texts_service import TextsService

    printers = tmp_path / "printers.yaml"
    printers.write_text('printers: [{name: a, ip: 192.0.2.1, serial: "00M09A350100001", '
                        'access_code: "12345678"}]\n')
    target = tmp_path / "hms-texts.json"
    env = {"BAMBU_PRINTERS_FILE": str(printers), "BAMBU_HMS_TEXT_FILE": str(target)}
    services = compose["services"]
    with TextsService() as stand_in:
        demo = services["hms-texts-demo"]
        command = [stand_in.url if arg == "http://127.0.0.1:9852" else arg
                   for arg in demo["command"]]
        result = _run_entrypoint(demo, command, env)
        assert result.returncode == 0 and target.exists(), result.stderr
        fetch = services["hms-texts"]
        url = fetch["command"].index("--hms.service-url") + 1
        command = [arg.split(":-", 1)[-1].rstrip("}") if arg.startswith("${") else arg
                   for arg in fetch["command"]]
        command[url] = stand_in.url
        stand_in.misbehave = "html"        # Bambu's service down: the exporter still starts
        before = target.read_bytes()
        result = _run_entrypoint(fetch, command, env)
        assert result.returncode == 0 and "kept the last texts" in result.stderr
        assert target.read_bytes() == before
