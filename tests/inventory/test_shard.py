"""inventory/shard.py, pure: which exporter of N owns a printer; the flags that say so.

No network: the PostgreSQL and real-process checks are in test_shard_postgres.py and
test_shard_e2e.py."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

from exporter.config import settings_from
from exporter.errors import ConfigError
from exporter.inventory.record import PrinterRecord
from exporter.inventory.shard import (
    Shard,
    describe_slice,
    ordinal_from_hostname,
    shard_from,
    shard_of,
)
from tests.support.e2e import REPO

pytestmark = pytest.mark.tier("unit")

PREFIXES = ("00M", "00W", "03W", "01S", "01P", "22E", "039", "030", "094", "093")


def serials(count: int, seed: int = 8) -> list[str]:
    """Serials shaped like real ones: a model prefix and 12 more characters."""
    rng = random.Random(seed)
    out = {f"{rng.choice(PREFIXES)}{rng.randrange(16**12):012X}" for _ in range(count)}
    while len(out) < count:  # a collision is near impossible, but the count must hold
        out.add(f"{rng.choice(PREFIXES)}{rng.randrange(16**12):012X}")
    return sorted(out)


SERIALS = serials(1000)


# ------------------------------------------------------------------- the hash

@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_every_serial_is_owned_by_exactly_one_shard(count: int) -> None:
    shards = [Shard(index, count) for index in range(count)]
    for serial in SERIALS:
        owners = [shard.index for shard in shards if shard.owns(serial)]
        assert owners == [shard_of(serial, count)], serial


def test_slices_are_disjoint_and_their_union_is_the_list() -> None:
    records = [PrinterRecord(f"p{i}", f"10.0.{i // 250}.{i % 250 + 1}", serial, "12345678")
               for i, serial in enumerate(SERIALS)]
    slices = [Shard(index, 3).select(records) for index in range(3)]
    held = [record.serial for part in slices for record in part]
    assert len(held) == len(set(held)) == len(SERIALS)
    assert set(held) == set(SERIALS)
    for part in slices:  # each slice keeps the list's order
        assert part == [record for record in records if record in part]


@pytest.mark.parametrize("count", [2, 3, 5])
def test_slices_are_about_even(count: int) -> None:
    sizes = Counter(shard_of(serial, count) for serial in SERIALS)
    assert sorted(sizes) == list(range(count))
    fair = len(SERIALS) / count
    for index, size in sizes.items():  # 4 standard deviations or so
        assert abs(size - fair) < 0.15 * fair + 20, (index, size, fair)


def test_going_from_two_to_three_shards_moves_about_a_third() -> None:
    before = {serial: shard_of(serial, 2) for serial in SERIALS}
    after = {serial: shard_of(serial, 3) for serial in SERIALS}
    moved = [serial for serial in SERIALS if before[serial] != after[serial]]
    assert 0.28 < len(moved) / len(SERIALS) < 0.39, len(moved)
    # Only to the new shard: the two old exporters lose printers, never trade them.
    assert {after[serial] for serial in moved} == {2}


@pytest.mark.parametrize("count", [1, 3, 4, 7, 9])
def test_adding_one_shard_moves_its_share_and_only_to_it(count: int) -> None:
    moved = [serial for serial in SERIALS
             if shard_of(serial, count) != shard_of(serial, count + 1)]
    share = len(SERIALS) / (count + 1)
    assert abs(len(moved) - share) < 0.2 * share + 20, (len(moved), share)
    assert all(shard_of(serial, count + 1) == count for serial in moved)


def test_modulo_hashing_would_move_two_thirds() -> None:
    """Why a consistent hash: the naive `key % N` moves most printers on a resize, each
    a reconnect that can kick Bambu Studio off a P1. The same serials, same key."""
    from exporter.inventory.shard import serial_key
    moved = sum(1 for s in SERIALS if serial_key(s) % 2 != serial_key(s) % 3)
    consistent = sum(1 for s in SERIALS if shard_of(s, 2) != shard_of(s, 3))
    assert moved > 1.6 * consistent


@pytest.mark.tier("e2e")
def test_the_hash_is_the_same_in_every_process() -> None:
    """Exporters on different machines must agree: Python's hash() would not (salted
    per process). Children with different hash seeds give the same owners."""
    code = ("import json, sys; from exporter.inventory.shard import shard_of; "
            "print(json.dumps([shard_of(s, n) for s in json.load(sys.stdin) "
            "for n in (2, 3, 7)]))")
    sample = SERIALS[:100]
    here = [shard_of(s, n) for s in sample for n in (2, 3, 7)]
    for seed in ("1", "2"):
        result = subprocess.run([sys.executable, "-c", code], input=json.dumps(sample),
                                text=True, capture_output=True, cwd=REPO, timeout=60,
                                env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == here


def test_the_hash_does_not_change_between_versions() -> None:
    """During a rolling upgrade old and new exporters run side by side: a changed hash
    would have them hold some printers twice and others not at all. Pinned owners."""
    assert [shard_of("00M09A350100001", n) for n in (2, 3, 5, 16)] == [0, 0, 0, 7]
    assert [shard_of("01P00A000000002", n) for n in (2, 3, 5, 16)] == [1, 2, 2, 8]
    assert [shard_of("0940000000000003", n) for n in (2, 3, 5, 16)] == [1, 1, 4, 6]


def test_one_shard_owns_everything_and_bad_shards_are_refused() -> None:
    assert all(Shard().owns(serial) for serial in SERIALS[:50])
    assert not Shard().sharded and Shard(0, 2).sharded
    for index, count in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError):
            Shard(index, count)


def test_describe_slice() -> None:
    assert describe_slice(Shard(2, 3), 334, 1000) == \
        "shard 2 of 3 (indexes 0..2): 334 of 1000 printers"
    assert describe_slice(Shard(), 1000, 1000) == ""


# ------------------------------------------------------------------- the flags

@pytest.mark.parametrize("hostname, ordinal", [
    ("bambu-exporter-0", 0),
    ("bambu-exporter-2", 2),
    ("bambu-exporter-12.bambu-exporter.monitoring.svc.cluster.local", 12),
    ("web-01", 1),
    ("bambu-exporter", None),
    ("bambu-exporter-", None),
    ("node3", None),
    ("host-1a", None),
    ("", None),
])
def test_ordinal_from_hostname(hostname: str, ordinal: int | None) -> None:
    assert ordinal_from_hostname(hostname) == ordinal


def test_index_from_flags_or_from_a_statefulset_host_name() -> None:
    assert shard_from("3", "1", "anything") == Shard(1, 3)
    assert shard_from("3", None, "bambu-exporter-2") == Shard(2, 3)
    assert shard_from("3", "0", "bambu-exporter-2") == Shard(0, 3)  # the flag wins
    assert shard_from(None, None, "bambu-exporter-7") == Shard(0, 1)  # not sharded
    assert shard_from("1", None, "laptop") == Shard(0, 1)
    assert shard_from(" 2 ", "+1", "x") == Shard(1, 2)


@pytest.mark.parametrize("count, index, hostname, message", [
    ("three", None, "x-0", r"--shard.count: 'three' is not a whole number"),
    ("2.5", None, "x-0", r"--shard.count: '2.5' is not a whole number"),
    ("0", None, "x-0", r"--shard.count: 0 shards: there must be at least 1"),
    ("-2", None, "x-0", r"--shard.count: '-2' is negative"),
    ("3", "-1", "x", r"--shard.index: '-1' is negative"),
    ("3", "one", "x", r"--shard.index: 'one' is not a whole number"),
    ("3", "3", "x", r"--shard.index: 3 is not below --shard.count 3 \(indexes run 0..2"),
    (None, "1", "x", r"--shard.index: 1 is not below --shard.count 1"),
    ("3", None, "bambu-exporter", r"--shard.index: not given, and the host name "
                                  r"'bambu-exporter' does not end in -<ordinal>"),
    ("3", None, "bambu-exporter-3", r"--shard.index: the host name 'bambu-exporter-3' "
                                    r"gives 3, which is not below --shard.count 3"),
])
def test_bad_values_name_the_flag(count: str | None, index: str | None, hostname: str,
                                  message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        shard_from(count, index, hostname)


def test_settings_from_flags_and_environment() -> None:
    base = {"printers.file": "p.yaml"}
    assert settings_from(base, {"HOSTNAME": "laptop"}).shard == Shard(0, 1)
    env = {"BAMBU_SHARD_COUNT": "3", "HOSTNAME": "bambu-exporter-2"}
    assert settings_from(base, env).shard == Shard(2, 3)
    assert settings_from(base, {**env, "BAMBU_SHARD_INDEX": "1"}).shard == Shard(1, 3)
    assert settings_from({**base, "shard.index": "0"}, env).shard == Shard(0, 3)
    assert settings_from({**base, "shard.count": "4", "shard.index": "3"},
                         env).shard == Shard(3, 4)


@pytest.mark.parametrize("flags, env, named", [
    ({}, {"BAMBU_SHARD_COUNT": "many", "HOSTNAME": "x-0"}, "BAMBU_SHARD_COUNT"),
    ({}, {"BAMBU_SHARD_COUNT": "2", "BAMBU_SHARD_INDEX": "2"}, "BAMBU_SHARD_INDEX"),
    ({"shard.count": "2"}, {"HOSTNAME": "laptop"}, "--shard.index"),
    ({"shard.count": "2", "shard.index": "-1"}, {}, "--shard.index"),
])
def test_settings_errors_name_the_flag_or_variable(flags: dict[str, str], env: dict[str, str],
                                                   named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        settings_from({"printers.file": "p.yaml", **flags}, env)
