"""Shards end to end: three `python -m exporter` processes on one real PostgreSQL table
(the seed's DB_* variables), simulated printers over real TLS MQTT, scraped over HTTP.

Web ports are free ports on 127.0.0.1. Every process started here is stopped here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.inventory.shard import shard_of
from exporter.simulator import SimulatedFleet
from tests.inventory.helpers import insert_printers
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    Samples,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    run_exporter,
    wait_until,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.tier("e2e")

COUNT = 3


class Exporter:
    def __init__(self, env: dict[str, str], args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = ExporterProcess(["--web.listen-address", f"127.0.0.1:{self.port}",
                                        "--printer.staleness", "10s", *args], clean_env(env))

    def samples(self) -> Samples:
        response = http_get(self.url + "/metrics")
        assert response.status == 200
        return parse_samples(response.text)


def serials_of(samples: Samples, name: str = "bambu_printer_info") -> set[str]:
    return {dict(labels)["serial"] for (n, labels) in samples if n == name}


def up_serials(samples: Samples) -> set[str]:
    return {dict(labels)["serial"] for (n, labels), v in samples.items()
            if n == "bambu_printer_up" and v == 1}


@pytest.fixture
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    fleet = SimulatedFleet(count=10, first_address=addresses.take(10).first, seed=21, life=False,
                           models=["X1C", "P1S", "A1"])
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture
def exporters(printers_db: tuple[PostgresCluster, str]) -> Iterator[list[Exporter]]:
    made: list[Exporter] = []
    yield made
    for exporter in made:
        try:
            assert exporter.process.stop() == 0, exporter.process.stderr[-3000:]
        finally:
            exporter.process.cleanup()


def test_three_exporters_hold_every_printer_once_and_a_new_row_lands_in_one(
        printers_db: tuple[PostgresCluster, str], fleet: SimulatedFleet,
        exporters: list[Exporter]) -> None:
    cluster, dbname = printers_db
    records = fleet.records
    first, last = records[:9], records[9]
    insert_printers(cluster, dbname, [(r.name, r.ip, r.serial, r.access_code) for r in first])
    db_env = cluster.env(dbname)
    # Two get the index as a flag or variable, the third from its host name, as a
    # StatefulSet's pod does.
    exporters.append(Exporter(db_env, ["--shard.count", str(COUNT), "--shard.index", "0"]))
    exporters.append(Exporter({**db_env, "BAMBU_SHARD_COUNT": str(COUNT),
                               "BAMBU_SHARD_INDEX": "1"}, []))
    exporters.append(Exporter({**db_env, "HOSTNAME": "bambu-exporter-2"},
                              ["--shard.count", str(COUNT)]))
    for exporter in exporters:
        exporter.process.wait_serving(exporter.url)

    want = {r.serial for r in first}

    def all_up_once() -> list[Samples] | None:
        scraped = [exporter.samples() for exporter in exporters]
        ups = [up_serials(samples) for samples in scraped]
        together = set().union(*ups)
        return scraped if together == want and sum(map(len, ups)) == len(want) else None

    scraped = wait_until(all_up_once, 60, what="every printer up in exactly one exporter")
    for index, samples in enumerate(scraped):
        held = serials_of(samples)
        assert held == {s for s in want if shard_of(s, COUNT) == index}
        assert samples[("bambu_inventory_printers", ())] == len(held)
        assert samples[("bambu_exporter_shard_info",
                        (("count", str(COUNT)), ("index", str(index))))] == 1
        assert [n for (n, _) in samples if n == "bambu_exporter_shard_info"] == \
            ["bambu_exporter_shard_info"]
    assert sum(len(serials_of(s)) for s in scraped) == len(want)

    for index, exporter in enumerate(exporters):
        page = http_get(exporter.url + "/").text
        held = len(serials_of(scraped[index]))
        assert re.search(rf'<p id="shard">[^<]*shard {index} of {COUNT} \(indexes 0..2\): '
                         rf'{held} of 9 printers', page), page

    # A row added: exactly one exporter starts a session for it, the others never list it.
    insert_printers(cluster, dbname, [(last.name, last.ip, last.serial, last.access_code)])
    owner = shard_of(last.serial, COUNT)
    wait_until(lambda: last.serial in up_serials(exporters[owner].samples()), 30,
               what=f"{last.serial} up in shard {owner}")
    for index, exporter in enumerate(exporters):
        samples = exporter.samples()
        assert (last.serial in serials_of(samples)) == (index == owner)
        assert samples[("bambu_inventory_printers", ())] == len(serials_of(samples))
    assert sum(len(serials_of(e.samples())) for e in exporters) == 10
    assert "of 10 printers" in http_get(exporters[owner].url + "/").text


def test_unsharded_exporter_says_shard_0_of_1(tmp_path: Path, fleet: SimulatedFleet,
                                              exporters: list[Exporter]) -> None:
    path = tmp_path / "printers.yaml"
    fleet.write_inventory_yaml(path)
    exporters.append(Exporter({"HOSTNAME": "bambu-exporter-1"}, ["--printers.file", str(path)]))
    exporters[0].process.wait_serving(exporters[0].url)
    samples = exporters[0].samples()
    # A -<ordinal> host name alone does not shard: only --shard.count does.
    assert samples[("bambu_exporter_shard_info", (("count", "1"), ("index", "0")))] == 1
    assert samples[("bambu_inventory_printers", ())] == 10
    assert 'id="shard"' not in http_get(exporters[0].url + "/").text


@pytest.mark.parametrize("args, env, named", [
    (["--shard.count", "2"], {"HOSTNAME": "laptop"}, "--shard.index"),
    (["--shard.count", "2", "--shard.index", "2"], {}, "--shard.index"),
    (["--shard.count", "two"], {}, "--shard.count"),
    ([], {"BAMBU_SHARD_COUNT": "3", "HOSTNAME": "bambu-exporter-3"}, "BAMBU_SHARD_COUNT"),
    ([], {"BAMBU_SHARD_COUNT": "3", "BAMBU_SHARD_INDEX": "-1"}, "BAMBU_SHARD_INDEX"),
], ids=["no-index", "index-too-big", "count-not-a-number", "ordinal-too-big", "negative-env"])
def test_bad_shard_values_stop_start_up_naming_them(tmp_path: Path, args: list[str],
                                                    env: dict[str, str], named: str) -> None:
    path = tmp_path / "printers.yaml"
    path.write_text("printers:\n")
    result = run_exporter(["--printers.file", str(path), *args], clean_env(env), timeout=30)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
