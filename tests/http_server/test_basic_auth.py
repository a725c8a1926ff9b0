"""Basic auth: the credentials header, the caches of verified and failed passwords, and
passwords over 72 bytes refused the same way whatever bcrypt does with them (the last
through curl against a real server on 127.0.92.1, this file's range)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from exporter.http_server.basic_auth import FAILED_FOR, BasicAuth, credentials
from exporter.http_server.server import WebServer
from tests.support.pki import bcrypt_hash

pytestmark = pytest.mark.tier("unit")

PASSWORD = "correct horse battery"


def test_basic_auth_checks_and_caches_verified_passwords_only() -> None:
    auth = BasicAuth({"alice": bcrypt_hash(PASSWORD).encode()})
    assert not auth.check("alice", b"wrong")
    assert not auth.check("mallory", PASSWORD.encode())   # unknown user: still one bcrypt
    assert auth.bcrypt_checks == 2
    for _ in range(5):
        assert auth.check("alice", PASSWORD.encode())
    assert auth.bcrypt_checks == 3   # verified once, then from the cache
    assert not auth.check("alice", b"wrong") and auth.bcrypt_checks == 4   # misses not cached
    assert not auth.check("alice", b"x" * 100)   # bcrypt refuses > 72 bytes: just wrong


@pytest.mark.parametrize("header, expected", [
    ("Basic YWxpY2U6cDpx", ("alice", b"p:q")),
    ("basic YWxpY2U6", ("alice", b"")),
    ("Basic !!!", None),
    ("Bearer abc", None),
    ("Basic YWxpY2U=", None),   # no colon
    (None, None),
])
def test_credentials_from_the_authorization_header(
        header: str | None, expected: tuple[str, bytes] | None) -> None:
    assert credentials(header) == expected


def test_a_wrong_password_is_remembered_briefly_and_keyed() -> None:
    now = [0.0]
    auth = BasicAuth({"alice": bcrypt_hash(PASSWORD).encode()}, clock=lambda: now[0])
    assert not auth.failed_recently("alice", b"guess")
    assert not auth.check("alice", b"guess")
    assert auth.failed_recently("alice", b"guess")
    assert not auth.failed_recently("alice", b"guess2") and not auth.failed_recently("bob", b"guess")
    assert not auth.failed_recently("alice", PASSWORD.encode())
    assert not auth.check("mallory", b"guess") and auth.failed_recently("mallory", b"guess")
    now[0] = FAILED_FOR + 1
    assert not auth.failed_recently("alice", b"guess")
    # a new hash for the user: what failed against the old one is forgotten
    renewed = BasicAuth({"alice": bcrypt_hash("guess").encode()})
    assert not renewed.failed_recently("alice", b"guess") and renewed.check("alice", b"guess")


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


@pytest.mark.tier("e2e")
def test_passwords_over_72_bytes_are_refused_with_a_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # bcrypt reads 72 bytes: bcrypt 4 let in a longer password sharing them, bcrypt 5
    # refused every such password, the right one too, without a word. Now: refused
    # before bcrypt, logged, whatever the bcrypt version.
    caplog.set_level(logging.INFO)
    exact = "p" * 72
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: '{bcrypt_hash(exact)}'\n")
    server = WebServer(hello, "127.0.92.1", 0, web_config_file=str(config))
    server.start()

    def code(password: str) -> str:
        return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               "--max-time", "10", "-u", f"alice:{password}",
                               f"http://127.0.92.1:{server.port}/metrics"],
                              capture_output=True, text=True, timeout=30).stdout

    try:
        assert code(exact + "tail") == "401"
        assert code(exact) == "200"
        assert code("q" * 100) == "401"
        checks = server.core.auth_gate.checks
    finally:
        server.stop()
    assert checks == 1   # only the 72-byte one reached bcrypt
    lines = [r.getMessage() for r in caplog.records if "over 72 bytes" in r.getMessage()]
    assert lines == ["basic auth from 127.0.0.1: password over 72 bytes refused (bcrypt "
                     "reads only 72)"] * 2
    assert exact not in caplog.text


def test_the_pinned_bcrypt_is_the_major_version_tested() -> None:
    # pyproject pins bcrypt to one major version: what it does past 72 bytes is known
    assert bcrypt.__version__.split(".")[0] == "5"


def test_an_unknown_user_costs_the_highest_cost_any_user_has(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against the first user's cheap hash, an unknown user's 401 came 100 times
    faster than a wrong password for a cost-12 user: names could be told apart."""
    seen: list[int] = []
    real = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        seen.append(int(hashed.split(b"$")[2]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    cheap = bcrypt_hash(PASSWORD).encode()                          # cost 4, listed first
    dear = bcrypt.hashpw(b"another", bcrypt.gensalt(rounds=12))
    auth = BasicAuth({"probe": cheap, "prometheus": dear})
    assert not auth.check("nobody", PASSWORD.encode())
    assert not auth.check("prometheus", b"wrong")
    assert seen == [12, 12]
    # the dummy hash matches nothing, not even a user's own password
    assert not auth.check("nobody", b"another") and auth.check("probe", PASSWORD.encode())
