"""--workers / BAMBU_WORKERS: parsed, bounded, named in errors; the default follows the
CPUs this process may run on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import exporter
from exporter.config import DEFAULT_WORKERS_CAP, default_workers, settings_from
from exporter.errors import ConfigError
from exporter.fleet.workers import worker_environment

pytestmark = pytest.mark.tier("unit")

FILE = {"printers.file": "printers.yaml"}


def test_flag_and_environment() -> None:
    assert settings_from({**FILE, "workers": "3"}, {}).workers == 3
    assert settings_from(FILE, {"BAMBU_WORKERS": "4"}).workers == 4
    assert settings_from({**FILE, "workers": "1"}, {"BAMBU_WORKERS": "4"}).workers == 1


@pytest.mark.parametrize(("flags", "environ", "named"), [
    ({"workers": "0"}, {}, "--workers"),
    ({"workers": "-2"}, {}, "--workers"),
    ({"workers": "65"}, {}, "--workers"),
    ({}, {"BAMBU_WORKERS": "two"}, "BAMBU_WORKERS"),
    ({}, {"BAMBU_WORKERS": "1.5"}, "BAMBU_WORKERS"),
])
def test_bad_values_name_the_flag(flags: dict, environ: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_from({**FILE, **flags}, environ)


def test_default_from_the_cpus_this_process_may_use() -> None:
    assert default_workers(1) == 1
    assert default_workers(2) == 2
    assert default_workers(64) == DEFAULT_WORKERS_CAP
    expected = min(len(os.sched_getaffinity(0)), DEFAULT_WORKERS_CAP)
    assert settings_from(FILE, {}).workers == expected


def test_worker_environment_keeps_only_what_python_needs() -> None:
    env = worker_environment({"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C",
                              "PYTHONHASHSEED": "0", "LD_LIBRARY_PATH": "/opt/lib",
                              "DB_PASSWORD": "s3cret", "PGPASSWORD": "s3cret",
                              "BAMBU_DATABASE_URL": "postgresql://u:s3cret@db/x",
                              "DB_PASSWORD_FILE": "/run/secrets/db", "AWS_SECRET": "x"})
    assert {k for k in env if k != "PYTHONPATH"} == {"PATH", "LANG", "LC_ALL",
                                                    "PYTHONHASHSEED", "LD_LIBRARY_PATH"}
    assert "s3cret" not in repr(env)
    # the package is importable from wherever the exporter was started
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(
        Path(exporter.__file__).resolve().parent.parent)
