"""Test certificates made with the openssl command: a CA, server and client certificates
signed by it, and bcrypt hashes; files for --web.config.file tests."""

from __future__ import annotations

import secrets
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def make_ca(directory: Path, name: str = "ca") -> KeyPair:
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    openssl("req", "-x509", *EC, "-keyout", str(pair.key), "-out", str(pair.cert),
            "-days", "30", "-subj", f"/CN=bambu test {name}")
    return pair


def make_signed(directory: Path, ca: KeyPair, name: str, usage: str,
                sans: str = "IP:127.0.64.10,IP:127.0.64.11,IP:127.0.64.12,DNS:localhost") -> KeyPair:
    """A certificate for `usage` (serverAuth or clientAuth) signed by `ca`."""
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage={usage}\n")
    openssl("req", *EC, "-keyout", str(pair.key), "-out", str(csr), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-set_serial", "0x" + secrets.token_hex(8), "-days", "30", "-out", str(pair.cert),
            "-extfile", str(ext))
    return pair


def bcrypt_hash(password: str) -> str:
    # cost 4: the lowest bcrypt allows, so tests stay quick; real files use 10 or more
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def fingerprint(der: bytes | None) -> str:
    import hashlib
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def cert_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())
