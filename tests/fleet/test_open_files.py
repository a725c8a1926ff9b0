"""The descriptor limit: raised to the hard limit at start, and each process that holds
sessions (workers too) says once, clearly, when its printers cannot fit under it. The
end-to-end case runs the exporter under a hard limit of 300 with 500 printers listed on
127.137.30.x (nothing listens there: every connect is refused, or fails for want of a
descriptor and is counted `local`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exporter.fleet.open_files import RESERVE, OpenFilesCheck, shortfall
from exporter.simulator.fleet import make_records
from exporter.simulator.inventory_out import write_yaml
from exporter.simulator.models import MODELS
from tests.support.e2e import ExporterProcess, clean_env, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")


def test_shortfall_says_how_many_and_what_to_do() -> None:
    assert shortfall(1000, 1000 + RESERVE) is None
    why = shortfall(1000, 1024)
    assert why is not None
    assert f"need about {1000 + RESERVE} open files" in why and "the limit is 1024" in why
    assert "--workers" in why and "LimitNOFILE" in why


def test_the_check_logs_once_while_short_and_once_when_it_fits(
        caplog: pytest.LogCaptureFixture) -> None:
    check = OpenFilesCheck(logging.getLogger("test.open_files"), limit=600)
    with caplog.at_level(logging.INFO, "test.open_files"):
        for _ in range(3):
            assert check.check(500) is not None
        assert check.check(100) is None
        assert check.check(100) is None
    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO"]


# Run the exporter under a low descriptor limit: a soft limit of 64 the exporter raises
# to the hard one (300), as `prlimit --nofile=64:300` would set it.
LIMITED = ["-c", "import resource, runpy, sys; "
                 "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 300)); "
                 "sys.argv[0] = 'exporter'; runpy.run_module('exporter', run_name='__main__')"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_list_past_the_limit_is_said_once_and_the_limit_raised(
        tmp_path: Path, workers: int) -> None:
    printers = tmp_path / "printers.yaml"
    write_yaml(printers, make_records(500, "127.137.30.1", 3, list(MODELS.values())))
    port = free_port()
    exporter = ExporterProcess(["--printers.file", str(printers), "--workers", str(workers),
                                "--web.listen-address", f"127.137.30.250:{port}"],
                               clean_env(), script=LIMITED)
    try:
        exporter.wait_serving(f"http://127.137.30.250:{port}")
        limits = Path(f"/proc/{exporter.proc.pid}/limits").read_text()
        soft = next(line.split()[3] for line in limits.splitlines()
                    if line.startswith("Max open files"))
        assert soft == "300"   # raised from 64 to the hard limit
        wait_until(lambda: "the limit is 300" in exporter.stderr, 30,
                   what="the open files shortfall in the log")
        wait_until(lambda: "local" in exporter.stderr, 30, what="connects counted as local")
    finally:
        exporter.stop()
        exporter.cleanup()
    lines = [line for line in exporter.stderr.splitlines() if "the limit is 300" in line]
    assert len(lines) == workers, lines   # once per process holding printers
    assert "Traceback" not in exporter.stderr
