"""deploy/kubernetes/: the manifests name only flags and variables the exporter has, and
their shard wiring holds together: replicas = --shard.count, the index left to the pod's
ordinal, the headless Service selects the pods, the ServiceMonitor the Service and its
port, the password Secret is mounted where DB_PASSWORD_FILE points, and the plain
Prometheus scrape job passes promtool and keeps exactly the exporter pods."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.inventory.shard import ordinal_from_hostname, shard_from

pytestmark = pytest.mark.tier("unit")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
JOB = "bambu"  # prometheus/prometheus.yml's job; the alert rules select it


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]


def one(name: str, kind: str) -> dict[str, Any]:
    docs = [doc for doc in load(name) if doc.get("kind") == kind]
    assert len(docs) == 1, f"{name}: expected one {kind}, found {len(docs)}"
    return docs[0]


@pytest.fixture(scope="module")
def help_text() -> str:
    result = subprocess.run([sys.executable, "-m", "exporter", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    kustomization = load("kustomization.yaml")[0]
    resources = [doc for name in kustomization["resources"] for doc in load(name)]
    by_kind = {doc["kind"]: doc for doc in resources}
    assert sorted(by_kind) == ["PodDisruptionBudget", "Service", "ServiceMonitor", "StatefulSet"]
    by_kind["Kustomization"] = kustomization
    by_kind["Secret"] = one("secret.example.yaml", "Secret")
    return by_kind


def container(statefulset: dict[str, Any]) -> dict[str, Any]:
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def flags(args: list[str]) -> dict[str, str]:
    """['--a=1', '--b', '2', '--c'] -> {'--a': '1', '--b': '2', '--c': ''}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        assert arg.startswith("--"), f"{arg!r} is not a flag"
        name, sep, value = arg.partition("=")
        if not sep and i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
            i += 1
        assert name not in out, f"{name} given twice"
        out[name] = value
        i += 1
    return out


def test_every_resource_is_listed_and_parses() -> None:
    kustomization = load("kustomization.yaml")[0]
    shipped = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    # The Secret is an example only: a password must not be applied from the repository.
    assert set(kustomization["resources"]) == shipped - {"secret.example.yaml"}


@pytest.mark.tier("e2e")
def test_flags_and_variables_are_the_exporters_own(manifests: dict[str, Any],
                                                   help_text: str) -> None:
    real_flags = set(re.findall(r"(--[a-z][a-z.-]*)", help_text))
    real_env = set(re.findall(r"\b((?:BAMBU|DB)_[A-Z_]+)", help_text))
    assert {"--shard.count", "--shard.index", "BAMBU_SHARD_COUNT", "DB_PASSWORD_FILE"} <= \
        real_flags | real_env
    spec = container(manifests["StatefulSet"])
    assert "command" not in spec, "the image's entrypoint is bambu-exporter: give args"
    given = flags(spec["args"])
    assert set(given) <= real_flags, set(given) - real_flags
    names = [item["name"] for item in spec["env"]]
    assert set(names) <= real_env, set(names) - real_env
    assert len(names) == len(set(names))
    # The Dockerfile's entrypoint runs the exporter, so args are its flags.
    assert 'ENTRYPOINT ["bambu-exporter"]' in (ROOT / "Dockerfile").read_text()


def test_replicas_equal_the_shard_count_and_the_ordinal_is_the_index(
        manifests: dict[str, Any]) -> None:
    statefulset = manifests["StatefulSet"]
    spec = container(statefulset)
    given = flags(spec["args"])
    env = {item["name"]: item.get("value") for item in spec["env"]}
    counts = [v for v in (given.get("--shard.count"), env.get("BAMBU_SHARD_COUNT")) if v]
    assert len(counts) == 1, "--shard.count once, as a flag or BAMBU_SHARD_COUNT"
    replicas = statefulset["spec"]["replicas"]
    assert int(counts[0]) == replicas > 1
    # No fixed index: every pod runs one spec and takes its pod name's ordinal.
    assert "--shard.index" not in given and "BAMBU_SHARD_INDEX" not in env
    name = statefulset["metadata"]["name"]
    shards = [shard_from(counts[0], None, f"{name}-{ordinal}") for ordinal in range(replicas)]
    assert [(s.index, s.count) for s in shards] == [(i, replicas) for i in range(replicas)]
    assert ordinal_from_hostname(f"{name}-{replicas}") == replicas  # one pod too many ...
    with pytest.raises(ValueError, match="not below"):  # ... refuses to start
        shard_from(counts[0], None, f"{name}-{replicas}")


def test_the_listen_port_is_the_named_container_port(manifests: dict[str, Any]) -> None:
    spec = container(manifests["StatefulSet"])
    listen = flags(spec["args"])["--web.listen-address"]
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert int(listen.rpartition(":")[2]) == ports["metrics"]
    # exec probes through the healthcheck command, on the address the exporter serves
    for probe, kind in (("readinessProbe", "ready"), ("livenessProbe", "healthy")):
        command = spec[probe]["exec"]["command"]
        assert command[:2] == ["bambu-exporter", "healthcheck"]
        probe_flags = flags(command[2:])
        assert probe_flags["--probe"] == kind
        assert probe_flags["--web.listen-address"] == listen
        assert "httpGet" not in spec[probe]


@pytest.mark.tier("e2e")
def test_the_probe_flags_are_the_healthchecks_own(manifests: dict[str, Any]) -> None:
    result = subprocess.run([sys.executable, "-m", "exporter", "healthcheck", "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
    real_flags = set(re.findall(r"(--[a-z][a-z.-]*)", result.stdout))
    spec = container(manifests["StatefulSet"])
    for probe in ("readinessProbe", "livenessProbe"):
        given = set(flags(spec[probe]["exec"]["command"][2:]))
        assert given <= real_flags, given - real_flags


def test_the_cpu_limit_matches_the_workers(manifests: dict[str, Any]) -> None:
    spec = container(manifests["StatefulSet"])
    workers = int(flags(spec["args"])["--workers"])
    limit = str(spec["resources"]["limits"]["cpu"])
    cpus = int(limit[:-1]) / 1000 if limit.endswith("m") else float(limit)
    # the exporter's own default would give the same: the quota, rounded up
    assert workers == max(1, -(-cpus // 1)), (workers, limit)
    request = str(spec["resources"]["requests"]["cpu"])
    requested = int(request[:-1]) / 1000 if request.endswith("m") else float(request)
    assert 0 < requested <= cpus


# The oldest Kubernetes release still supported upstream when this was written, and the
# newest the pinned validator knows: the manifests must hold for both.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_passes_the_kubernetes_schemas(manifests: dict[str, Any],
                                                      version: str) -> None:
    import kubernetes_validate
    checked = []
    for kind, doc in manifests.items():
        if kind in ("Kustomization", "ServiceMonitor"):   # not Kubernetes API kinds:
            continue                                      # the tests above check them
        # strict: a misspelt or misplaced field is an error, not silently dropped
        kubernetes_validate.validate(doc, version, strict=True)
        checked.append(kind)
    assert sorted(checked) == ["PodDisruptionBudget", "Secret", "Service", "StatefulSet"]


def test_the_schema_check_catches_a_misplaced_field(manifests: dict[str, Any]) -> None:
    import copy

    import kubernetes_validate
    broken = copy.deepcopy(manifests["StatefulSet"])
    broken["spec"]["template"]["spec"]["containers"][0]["resource"] = {"limits": {"cpu": "1"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_a_disruption_takes_at_most_one_shard(manifests: dict[str, Any]) -> None:
    budget, statefulset = manifests["PodDisruptionBudget"], manifests["StatefulSet"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["maxUnavailable"] == 1 < statefulset["spec"]["replicas"]
    spread = statefulset["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_the_headless_service_selects_the_statefulsets_pods(manifests: dict[str, Any]) -> None:
    statefulset, service = manifests["StatefulSet"], manifests["Service"]
    pod_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["clusterIP"] == "None"  # one target per pod, never balanced
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"] and service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in container(statefulset)["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in container_ports


def test_the_servicemonitor_selects_the_service_and_its_port(manifests: dict[str, Any]) -> None:
    monitor, service = manifests["ServiceMonitor"], manifests["Service"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service_labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    port_names = {port["name"] for port in service["spec"]["ports"]}
    endpoints = monitor["spec"]["endpoints"]
    assert endpoints and all(endpoint["port"] in port_names for endpoint in endpoints)
    assert all(endpoint.get("path", "/metrics") == "/metrics" for endpoint in endpoints)
    # The job label comes from the Service: the alert rules' job.
    assert service_labels[monitor["spec"]["jobLabel"]] == JOB
    # Same namespace as the Service (no namespaceSelector): kustomize puts both there.
    assert "namespaceSelector" not in monitor["spec"]


def test_the_password_comes_from_the_secret_as_a_file(manifests: dict[str, Any]) -> None:
    statefulset, secret = manifests["StatefulSet"], manifests["Secret"]
    spec = container(statefulset)
    env = {item["name"]: item for item in spec["env"]}
    assert "DB_PASSWORD" not in env, "a password in the pod spec shows in kubectl describe"
    password_file = Path(env["DB_PASSWORD_FILE"]["value"])
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    mounts = [m for m in spec["volumeMounts"] if password_file.parent == Path(m["mountPath"])]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    source = volumes[mounts[0]["name"]]["secret"]
    assert source["secretName"] == secret["metadata"]["name"]
    items = {item["path"]: item["key"] for item in source["items"]}
    assert items[password_file.name] in secret["stringData"]
    # The exporter runs as nobody: the file must be readable through fsGroup.
    pod_security = statefulset["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["fsGroup"] == pod_security["runAsUser"]
    assert source["defaultMode"] & 0o040
    # The README's command makes the same Secret, with the same key.
    readme = (DEPLOY / "README.md").read_text()
    assert (f"create secret generic {secret['metadata']['name']} "
            f"--from-file={items[password_file.name]}=") in readme


def test_the_namespace_is_one_everywhere(manifests: dict[str, Any]) -> None:
    namespace = manifests["Kustomization"]["namespace"]
    job = scrape_job()
    names = [sd["namespaces"]["names"] for sd in job["kubernetes_sd_configs"]]
    assert names == [[namespace]]
    assert f"-n {namespace} create secret" in (DEPLOY / "README.md").read_text()


# --------------------------------------------------- the plain Prometheus scrape job

K8S_SD_KEYS = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors",
               "attach_metadata", "basic_auth", "authorization", "oauth2", "tls_config",
               "proxy_url", "follow_redirects", "enable_http2"}
K8S_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}


def scrape_job() -> dict[str, Any]:
    config = load("prometheus-scrape.yml")[0]
    jobs = config["scrape_configs"]
    assert len(jobs) == 1
    return jobs[0]


def promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: ./scripts/system-deps installs it"
    return subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.tier("e2e")
def test_the_scrape_job_passes_promtool(tmp_path: Path) -> None:
    """Debian's promtool is built without Kubernetes discovery ("field
    kubernetes_sd_configs not found"). There the job is checked by promtool with its
    discovery swapped for a static target (job, intervals and every relabel rule), and
    the discovery block against Prometheus's documented fields; an upstream promtool
    checks the file as it is."""
    result = promtool_check(DEPLOY / "prometheus-scrape.yml")
    output = result.stdout + result.stderr
    if result.returncode == 0:
        assert "SUCCESS" in output
        return
    assert "field kubernetes_sd_configs not found" in output, output
    job = scrape_job()
    for sd in job["kubernetes_sd_configs"]:
        assert set(sd) <= K8S_SD_KEYS, set(sd) - K8S_SD_KEYS
        assert sd["role"] in K8S_ROLES
        assert set(sd.get("namespaces", {})) <= {"names", "own_namespace"}
    swapped = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
    swapped["static_configs"] = [{"targets": ["bambu-exporter-0:9851"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump({"scrape_configs": [swapped]}))
    result = promtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr


def relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus's keep/replace relabelling, enough for this job; None when dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(labels.get(name, "")
                                               for name in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "keep":
            if not match:
                return None
        elif action == "drop":
            if match:
                return None
        elif action == "replace":
            if match:
                labels[rule["target_label"]] = match.expand(
                    rule.get("replacement", "$1").replace("$1", r"\1"))
        else:
            raise AssertionError(f"relabel action {action} not modelled here")
    return labels


def pod_target(statefulset: dict[str, Any], namespace: str, ordinal: int, port: str,
               **extra_labels: str) -> dict[str, str]:
    """The labels Kubernetes pod discovery gives one container port of a pod."""
    pod_labels = {**statefulset["spec"]["template"]["metadata"]["labels"], **extra_labels}
    out = {f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v
           for k, v in pod_labels.items()}
    out.update({"__meta_kubernetes_namespace": namespace,
                "__meta_kubernetes_pod_name": f"{statefulset['metadata']['name']}-{ordinal}",
                "__meta_kubernetes_pod_container_port_name": port,
                "__address__": f"10.0.0.{ordinal + 1}:9851", "job": scrape_job()["job_name"]})
    return out


def test_the_scrape_job_keeps_each_exporter_pod_and_nothing_else(
        manifests: dict[str, Any]) -> None:
    job = scrape_job()
    assert job["job_name"] == JOB
    main = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert JOB in [j["job_name"] for j in main["scrape_configs"]]  # the same job as there
    statefulset = manifests["StatefulSet"]
    namespace = manifests["Kustomization"]["namespace"]
    port = container(statefulset)["ports"][0]["name"]
    rules = job["relabel_configs"]
    kept = [relabel(rules, pod_target(statefulset, namespace, i, port))
            for i in range(statefulset["spec"]["replicas"])]
    assert all(kept)
    assert [labels["pod"] for labels in kept if labels] == \
        [f"bambu-exporter-{i}" for i in range(statefulset["spec"]["replicas"])]
    # Another port of the same pod, another application's pod: not scraped.
    assert relabel(rules, pod_target(statefulset, namespace, 0, "debug")) is None
    other = pod_target(statefulset, namespace, 0, port,
                       **{"app.kubernetes.io/name": "postgres"})
    assert relabel(rules, other) is None


@pytest.mark.tier("e2e")
def test_an_init_container_fetches_the_texts_the_exporter_reads(
        manifests: dict[str, Any]) -> None:
    pod = manifests["StatefulSet"]["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    exporter = container(manifests["StatefulSet"])
    assert init["image"] == exporter["image"]
    assert "bambu-exporter hms-texts fetch" in init["command"][2]
    assert "||" in init["command"][2], "a failed fetch must not hold the pod back"
    env = {item["name"]: item.get("value") for item in init["env"]}
    text_file = flags(exporter["args"])["--hms.text-file"]
    assert env["BAMBU_HMS_TEXT_FILE"] == text_file
    # the printer list as the exporter reads it
    exporter_env = {item["name"]: item.get("value") for item in exporter["env"]}
    assert {k: v for k, v in env.items() if k.startswith("DB_")} == exporter_env
    mounts = {m["name"]: m for m in init["volumeMounts"]}
    read = {m["name"]: m for m in exporter["volumeMounts"]}
    assert text_file.startswith(mounts["hms-texts"]["mountPath"] + "/")
    assert read["hms-texts"]["mountPath"] == mounts["hms-texts"]["mountPath"]
    assert read["hms-texts"]["readOnly"] and not mounts["hms-texts"].get("readOnly")
    assert {v["name"]: v for v in pod["volumes"]}["hms-texts"]["emptyDir"]
    fetch_help = subprocess.run([sys.executable, "-m", "exporter", "hms-texts", "--help"],
                                capture_output=True, text=True, timeout=60).stdout
    assert set(flags(init["args"])) <= set(re.findall(r"(--[a-z][a-z.-]*)", fetch_help))
