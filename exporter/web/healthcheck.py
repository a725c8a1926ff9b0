"""`bambu-exporter healthcheck`: asks this host's exporter /-/ready (or /-/healthy) the way
a container or pod probe needs, through the TLS and basic auth of --web.config.file.

It reads the serve command's flags and variables (a Docker HEALTHCHECK sees only the
variables; a Kubernetes exec probe can repeat the flags), and:
- connects to the first --web.listen-address (an "all interfaces" one as loopback);
- with TLS, trusts exactly the server's own certificate (cert_file of the web config,
  which it can read on the same host) rather than a CA: the probe connects to 127.0.0.1,
  a name no certificate of a real host carries, so the name is not checked;
- with basic auth, sends a user (--healthcheck.user, or the only one configured) and the
  password read from --healthcheck.password-file: never a password on a command line;
- with client certificates required, presents --healthcheck.client-cert/-key.
Exit 0 when the answer is 200, else 1 (Docker reserves 2), with one line saying why.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.config import ENVIRONMENT, parse_listen_addresses, parse_positive_duration
from exporter.errors import ConfigError
from exporter.web.app import HEALTHY_PATHS, READY_PATH
from exporter.web.web_config import load_web_config

# flag -> variable of the healthcheck's own flags (the serve flags' are config.ENVIRONMENT)
HEALTHCHECK_ENVIRONMENT = {
    "healthcheck.user": "BAMBU_HEALTHCHECK_USER",
    "healthcheck.password-file": "BAMBU_HEALTHCHECK_PASSWORD_FILE",
    "healthcheck.client-cert": "BAMBU_HEALTHCHECK_CLIENT_CERT",
    "healthcheck.client-key": "BAMBU_HEALTHCHECK_CLIENT_KEY",
}
PROBES = {"ready": READY_PATH, "healthy": HEALTHY_PATHS[0]}


@dataclass(frozen=True)
class Probe:
    host: str
    port: int
    path: str
    timeout: float
    tls: ssl.SSLContext | None = None
    authorization: str | None = None   # the Authorization header; holds the password

    def __repr__(self) -> str:   # the header holds a password
        return f"Probe({self.url})"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"


def _value(flags: Mapping[str, Any], environ: Mapping[str, str], flag: str) -> tuple[str, Any]:
    value = flags.get(flag)
    if value is not None:
        return f"--{flag}", value
    env = ENVIRONMENT.get(flag) or HEALTHCHECK_ENVIRONMENT.get(flag)
    if env and environ.get(env, "").strip():
        return env, environ[env].strip()
    return f"--{flag}", None


def probe_from(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Probe:
    """What to ask, from flags and variables; ConfigError naming what is wrong."""
    where, given = _value(flags, environ, "web.listen-address")
    host, port = parse_listen_addresses(where, given)[0]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    probe = str(flags.get("probe") or "ready")
    timeout = parse_positive_duration("--timeout", str(flags.get("timeout") or "5s"), 0.1)
    where, config_file = _value(flags, environ, "web.config.file")
    if not config_file:
        return Probe(host, port, PROBES[probe], timeout)
    config = load_web_config(config_file, where)
    tls = None
    if config.tls is not None and config.cert_file is not None:
        tls = _client_context(config.cert_file, flags, environ, config.tls)
    authorization = None
    if config.users:
        authorization = _authorization(flags, environ, sorted(config.users))
    return Probe(host, port, PROBES[probe], timeout, tls, authorization)


def _client_context(cert_file: Path, flags: Mapping[str, Any], environ: Mapping[str, str],
                    server: ssl.SSLContext) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    # The server's own certificate is the trust anchor, even when a CA signed it.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cafile=str(cert_file))
    where_cert, cert = _value(flags, environ, "healthcheck.client-cert")
    where_key, key = _value(flags, environ, "healthcheck.client-key")
    if server.verify_mode == ssl.CERT_REQUIRED and not cert:
        raise ConfigError("the web config requires client certificates: give the probe one "
                          "with --healthcheck.client-cert and --healthcheck.client-key (or "
                          "BAMBU_HEALTHCHECK_CLIENT_CERT/_KEY)")
    if cert:
        try:
            context.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{where_cert} {cert} / {where_key} {key}: not a readable PEM "
                              f"certificate and key ({getattr(exc, 'strerror', None) or exc})"
                              ) from None
    return context


def _authorization(flags: Mapping[str, Any], environ: Mapping[str, str],
                   users: Sequence[str]) -> str:
    where, user = _value(flags, environ, "healthcheck.user")
    if not user:
        if len(users) != 1:
            raise ConfigError("the web config has several basic auth users: say which one "
                              "the probe is with --healthcheck.user (or BAMBU_HEALTHCHECK_USER)")
        user = users[0]
    where, password_file = _value(flags, environ, "healthcheck.password-file")
    if not password_file:
        raise ConfigError("the web config asks for basic auth: give the probe's password in a "
                          "file, --healthcheck.password-file (or BAMBU_HEALTHCHECK_PASSWORD_FILE)")
    try:
        with open(password_file, "rb") as f:
            password = f.read().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"{where} {password_file}: cannot read: {exc.strerror or exc}") \
            from None
    token = base64.b64encode(str(user).encode() + b":" + password).decode()
    return f"Basic {token}"


def check(probe: Probe) -> tuple[bool, str]:
    """(healthy, one line saying what was asked and what came back)."""
    connection: http.client.HTTPConnection
    if probe.tls is not None:
        connection = http.client.HTTPSConnection(probe.host, probe.port, context=probe.tls,
                                                 timeout=probe.timeout)
    else:
        connection = http.client.HTTPConnection(probe.host, probe.port, timeout=probe.timeout)
    headers = {"Connection": "close"}
    if probe.authorization:
        headers["Authorization"] = probe.authorization
    try:
        connection.request("GET", probe.path, headers=headers)
        response = connection.getresponse()
        body = response.read(512).decode("utf-8", "replace").strip().splitlines()
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or \
            type(exc).__name__
        return False, f"{probe.url}: {reason}"
    finally:
        connection.close()
    said = body[0][:200] if body else ""
    return response.status == 200, f"{probe.url}: {response.status} {said}".rstrip()


def run(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> int:
    """The command: 0 when the exporter answers 200, else 1; one line on stdout/stderr."""
    try:
        probe = probe_from(flags, os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"healthcheck: error: {exc}", file=sys.stderr)
        return 1
    ok, line = check(probe)
    print(f"healthcheck: {line}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
