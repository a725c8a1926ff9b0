"""The fleet's self-signed TLS certificate, made at start with the openssl CLI.

openssl is already a system dependency of the project (scripts/system-deps) and real
printers' certificates are just as self-signed; adding the `cryptography` package would be
a second, heavier way to do the same. An EC P-256 key keeps handshakes cheap for 1000
printers. One certificate serves the whole fleet (clients do not verify it).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path


def server_context() -> ssl.SSLContext:
    """A server SSLContext with a fresh self-signed certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the simulator needs the openssl command to make its certificate "
                           "(apt-get install openssl, or run ./scripts/system-deps)")
    with tempfile.TemporaryDirectory(prefix="bambu-sim-cert-") as tmp:
        key, cert = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        proc = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "3650",
             "-subj", "/CN=bambu-exporter simulated printer"],
            capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl could not make the simulator certificate: "
                               f"{proc.stderr.strip()[:300]}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
    return context
