"""The fleet's TLS certificates, made at start with the openssl CLI.

openssl is already a system dependency of the project (scripts/system-deps); adding the
`cryptography` package would be a second, heavier way to do the same. An EC P-256 key
keeps handshakes cheap for 1000 printers. By default one self-signed certificate serves
the whole fleet (clients do not verify it). With a PrinterPki the fleet plays Bambu's
arrangement: a CA of its own (without keyUsage, as Bambu's CA certificates are), and
each printer a certificate from it whose subject CN is its serial.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path


def _openssl() -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the simulator needs the openssl command to make its certificate "
                           "(apt-get install openssl, or run ./scripts/system-deps)")
    return openssl


def _run(*args: str) -> None:
    proc = subprocess.run([_openssl(), *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl could not make a simulator certificate: "
                           f"{proc.stderr.strip()[:300]}")


# Extensions by section: the CA's carry no keyUsage (Bambu's do not either).
_CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
"""


class PrinterPki:
    """A simulator CA in `directory` (ca.pem is the bundle a client is given) and
    certificates for printers: from the CA with any CN, or self-signed."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.directory / "ca.pem"
        self._config = self.directory / "openssl.cnf"
        self._config.write_text(_CONFIG)
        self._ca_key = self.directory / "ca.key"
        self._key = self.directory / "printer.key"   # one key for every printer: cheap
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(self._ca_key), "-out", str(self.ca_file),
             "-days", "3650", "-subj", "/CN=bambu-exporter simulated printer CA",
             "-config", str(self._config), "-extensions", "ca")
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", str(self._key))

    def context(self, common_name: str, self_signed: bool = False) -> ssl.SSLContext:
        """A server context presenting a certificate for `common_name`."""
        cert = self.directory / f"{'self-' if self_signed else ''}{common_name}.pem"
        issuer = [] if self_signed else ["-CA", str(self.ca_file), "-CAkey", str(self._ca_key)]
        _run("req", "-new", "-x509", "-key", str(self._key), "-subj", f"/CN={common_name}",
             *issuer, "-days", "3650", "-config", str(self._config), "-extensions", "leaf",
             "-out", str(cert))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(self._key))
        return context


def server_context() -> ssl.SSLContext:
    """A server SSLContext with a fresh self-signed certificate."""
    with tempfile.TemporaryDirectory(prefix="bambu-sim-cert-") as tmp:
        cert, key = self_signed_files(Path(tmp))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
    return context


def self_signed_files(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate and its key in `directory` (for servers, such as
    the FTPS one, that load files rather than an SSLContext)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    proc = subprocess.run(
        [_openssl(), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "3650",
         "-subj", "/CN=bambu-exporter simulated printer"],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl could not make the simulator certificate: "
                           f"{proc.stderr.strip()[:300]}")
    return cert, key
