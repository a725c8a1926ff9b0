"""The documentation's web sections say what the code does: the limits table matches
ServerLimits, and the example web config is in the format load_web_config reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from exporter.http_server.connection import MAX_REQUEST_LINE, WRITE_CHUNK
from exporter.http_server.server import ServerLimits
from exporter.http_server.web_config import load_web_config
from tests.support.docs import page_with

pytestmark = pytest.mark.tier("unit")

SECURITY_PAGE = page_with("## Web server limits")


def limits_table() -> dict[str, str]:
    section = SECURITY_PAGE.split("## Web server limits", 1)[1].split("\n#", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[1].strip(): cells[2].strip() for cells in rows[1:]}


def test_the_limits_table_matches_the_defaults() -> None:
    limits = ServerLimits()
    table = limits_table()
    assert table["header deadline"] == f"{limits.header_timeout:g} s"
    assert table["body deadline"] == f"{limits.body_timeout:g} s"
    assert table["write deadline"] == f"{limits.write_timeout:g} s"
    assert table["keep-alive idle"] == f"{limits.idle_timeout:g} s"
    assert table["connections"] == str(limits.max_connections)
    assert table["listen backlog"] == str(limits.backlog)
    assert table["concurrent renders"] == f"{limits.render_slots} per lane"
    assert table["render wait"] == f"{limits.render_wait:g} s"
    assert table["render queue"] == f"{limits.render_queue} per lane"
    assert table["renders per client"] == (f"{limits.renders_per_client} per lane, running "
                                           "or waiting")
    assert table["connections per client"].startswith(f"{limits.connections_per_client} ")
    assert table["answers held for clients"].startswith(
        f"{limits.answer_budget_bytes >> 20} MiB, all connections together")
    assert table["request line / headers / body"] == (
        f"{(MAX_REQUEST_LINE + 2) // 1024} kB / {limits.max_header_bytes // 1024} kB / "
        f"{limits.max_body_bytes // 1024} kB")
    assert table["kernel send buffer"] == f"{limits.send_buffer_bytes // 1024} kB per connection"
    assert f"{WRITE_CHUNK // 1024} kB chunks" in SECURITY_PAGE


def test_the_example_web_config_loads_once_its_files_exist(tmp_path: Path) -> None:
    example = re.search(r"```yaml\n# web.yml\n(.*?)```", SECURITY_PAGE, re.S)
    assert example is not None
    document = yaml.safe_load(example.group(1))
    # Only the basic auth part: the certificate paths are the reader's.
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump({"basic_auth_users": document["basic_auth_users"]}))
    assert set(load_web_config(path).users) == {"prometheus"}
    assert set(document["tls_server_config"]) <= {
        "cert_file", "key_file", "min_version", "max_version", "client_auth_type",
        "client_ca_file"}
