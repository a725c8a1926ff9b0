"""The `pki` fixture the web and HTTP server tests share (a CA and a server certificate
it signed), registered in tests/conftest.py. A test file that needs more certificates
defines its own `pki`."""

from __future__ import annotations

import pytest

from tests.support.pki import KeyPair, make_ca, make_signed


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return {"ca": ca, "server": make_signed(directory, ca, "server", "serverAuth")}
