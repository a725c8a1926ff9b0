"""--web.config.file: TLS and basic auth in the Prometheus exporter-toolkit format.

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      min_version: TLS12                       # TLS10 .. TLS13, default TLS12
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients-ca.crt
    basic_auth_users:
      prometheus: $2y$10$...                   # bcrypt hashes only

Relative paths are relative to the file, as in exporter-toolkit. Every problem is a
ConfigError naming the flag and what is wrong; hashes and passwords never appear in one.
"""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter.errors import ConfigError
from exporter.text import FileRefused, check_regular, read_regular_file

FLAG = "--web.config.file"

TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# exporter-toolkit's names. RequestClientCert and RequireAnyClientCert ask for a certificate
# without verifying it, which Python's ssl cannot do: refused rather than silently verified.
CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
               "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_UNVERIFIED_AUTH = ("RequestClientCert", "RequireAnyClientCert")

_TOP_KEYS = ("tls_server_config", "basic_auth_users")
_TLS_KEYS = ("cert_file", "key_file", "min_version", "max_version", "client_auth_type",
             "client_ca_file")
# Keys exporter-toolkit knows that we do not implement: named as such, not "unknown".
_UNSUPPORTED = ("http_server_config", "cipher_suites", "curve_preferences",
                "prefer_server_cipher_suites", "client_allowed_sans", "cert", "key", "client_ca")
# A web config is a few lines, a certificate a few kB: anything near this is not one.
MAX_FILE_BYTES = 1024 * 1024
_BCRYPT = re.compile(rb"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True)
class WebConfig:
    """What the file says: a TLS context (None: plain HTTP) and users -> bcrypt hash."""

    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    files: tuple[Path, ...] = ()   # the file and the files it names: watched for changes
    cert_file: Path | None = None   # the server's certificate (the healthcheck trusts it)


def load_web_config(path: str | os.PathLike[str], where: str = FLAG) -> WebConfig:
    """Read and check the file; raises ConfigError('<where> <path>: what is wrong')."""
    path = Path(path)
    prefix = f"{where} {path}"
    try:
        text = read_regular_file(path, MAX_FILE_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{prefix}: cannot read: {_reason(exc)}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{prefix}: not valid YAML{at}") from None
    if document is None:
        return WebConfig(files=(path,))   # an empty file: plain HTTP, no auth (as the toolkit)
    if not isinstance(document, dict):
        raise ConfigError(f"{prefix}: expected a mapping with tls_server_config and/or "
                          "basic_auth_users")
    _check_keys(prefix, "", document, _TOP_KEYS)
    base = path.parent
    files = [path]
    tls = None
    cert_file = None
    if document.get("tls_server_config"):
        tls, tls_files = _tls_context(prefix, base, document["tls_server_config"])
        files += tls_files
        cert_file = tls_files[0]
    users = _users(prefix, document.get("basic_auth_users"))
    return WebConfig(tls=tls, users=users, files=tuple(files), cert_file=cert_file)


def _check_named_file(prefix: str, key: str, path: Path) -> None:
    """Certificates and keys are read by the ssl module by name: check first that each
    is a regular file under the cap, so a FIFO there cannot hang a reload."""
    try:
        check_regular(os.stat(path), MAX_FILE_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{prefix}: tls_server_config.{key} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{prefix}: tls_server_config.{key} {path}: {_reason(exc)}") from None


def lowered_security(old: WebConfig, new: WebConfig) -> str | None:
    """What `new` would switch off or loosen that `old` has on, or None. A reload may
    only keep or raise protection: lowering it takes a restart, so a truncated or
    half-written file can never open the port."""
    lost = []
    if old.tls is not None and new.tls is None:
        lost.append("turn off TLS")
    if old.users and not new.users:
        lost.append("turn off basic auth")
    if old.tls is not None and new.tls is not None:
        if _CLIENT_CERT_RANK[new.tls.verify_mode] < _CLIENT_CERT_RANK[old.tls.verify_mode]:
            lost.append("loosen client certificate checks")
        if new.tls.minimum_version < old.tls.minimum_version:
            lost.append("lower the minimum TLS version")
    return ", ".join(lost) or None


_CLIENT_CERT_RANK = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 2}


def raised_transport(old: WebConfig, new: WebConfig) -> str | None:
    """What `new` asks of a connection's set-up that `old` did not (TLS on, stricter client
    certificates, a higher minimum version), or None. Connections set up under `old` did
    not meet it, so they have to go; basic auth is checked per request and needs nothing."""
    raised = []
    if old.tls is None and new.tls is not None:
        raised.append("turned TLS on")
    if old.tls is not None and new.tls is not None:
        if _CLIENT_CERT_RANK[new.tls.verify_mode] > _CLIENT_CERT_RANK[old.tls.verify_mode]:
            raised.append("tightened client certificate checks")
        if new.tls.minimum_version > old.tls.minimum_version:
            raised.append("raised the minimum TLS version")
    return ", ".join(raised) or None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileRefused):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _check_keys(prefix: str, section: str, mapping: dict[Any, Any],
                allowed: tuple[str, ...]) -> None:
    for key in mapping:
        where = f"{section}{key}"
        if key in _UNSUPPORTED:
            raise ConfigError(f"{prefix}: {where} is not supported by bambu-exporter "
                              f"(supported: {', '.join(allowed)})")
        if key not in allowed:
            raise ConfigError(f"{prefix}: unknown key {where!r} (expected: {', '.join(allowed)})")


def _tls_context(prefix: str, base: Path, section: Any) -> tuple[ssl.SSLContext, list[Path]]:
    if not isinstance(section, dict):
        raise ConfigError(f"{prefix}: tls_server_config must be a mapping")
    _check_keys(prefix, "tls_server_config.", section, _TLS_KEYS)
    for required in ("cert_file", "key_file"):
        if not section.get(required):
            raise ConfigError(f"{prefix}: tls_server_config.{required} is required for TLS")
    cert, key = base / str(section["cert_file"]), base / str(section["key_file"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _version(prefix, "min_version", section.get("min_version", "TLS12"))
    if section.get("max_version"):
        context.maximum_version = _version(prefix, "max_version", section["max_version"])
    for name, named in (("cert_file", cert), ("key_file", key)):
        if not os.access(named, os.R_OK):
            why = "no such file" if not named.exists() else "not readable"
            raise ConfigError(f"{prefix}: tls_server_config.{name} {named}: {why}")
        _check_named_file(prefix, name, named)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"{prefix}: tls_server_config cert_file {cert} / key_file {key}: "
                          f"not a matching PEM certificate and key ({_ssl_reason(exc)})") from None
    files: list[Path] = [cert, key]
    auth = str(section.get("client_auth_type") or "NoClientCert")
    if auth in _UNVERIFIED_AUTH:
        raise ConfigError(f"{prefix}: tls_server_config.client_auth_type {auth} is not "
                          "supported (Python's TLS verifies every client certificate it asks "
                          "for): use VerifyClientCertIfGiven or RequireAndVerifyClientCert")
    if auth not in CLIENT_AUTH:
        raise ConfigError(f"{prefix}: tls_server_config.client_auth_type {auth!r} is not one "
                          f"of {', '.join(CLIENT_AUTH)}")
    ca = section.get("client_ca_file")
    if auth == "NoClientCert" and ca:
        raise ConfigError(f"{prefix}: tls_server_config.client_ca_file is set but "
                          "client_auth_type is NoClientCert: set client_auth_type to "
                          "RequireAndVerifyClientCert (or VerifyClientCertIfGiven)")
    if auth != "NoClientCert":
        if not ca:
            raise ConfigError(f"{prefix}: tls_server_config.client_auth_type {auth} needs "
                              "client_ca_file (the CA that signs client certificates)")
        ca_path = base / str(ca)
        _check_named_file(prefix, "client_ca_file", ca_path)
        try:
            context.load_verify_locations(cafile=str(ca_path))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"{prefix}: tls_server_config.client_ca_file {ca_path}: "
                              f"not a readable PEM certificate ({_ssl_reason(exc)})") from None
        context.verify_mode = CLIENT_AUTH[auth]
        files.append(ca_path)
    return context, files


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return _reason(exc)


def _version(prefix: str, key: str, value: Any) -> ssl.TLSVersion:
    if value not in TLS_VERSIONS:
        raise ConfigError(f"{prefix}: tls_server_config.{key} {value!r} is not one of "
                          f"{', '.join(TLS_VERSIONS)}")
    return TLS_VERSIONS[value]


def _users(prefix: str, section: Any) -> dict[str, bytes]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{prefix}: basic_auth_users must be a mapping of user: bcrypt hash")
    users = {}
    for user, hashed in section.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise ConfigError(f"{prefix}: basic_auth_users: {user!r} is not a user name "
                              "(text without ':')")
        encoded = hashed.encode() if isinstance(hashed, str) else b""
        if not _BCRYPT.match(encoded):
            # The value may be a password pasted by mistake: never echo it.
            raise ConfigError(f"{prefix}: basic_auth_users.{user}: not a bcrypt hash "
                              "($2y$10$ followed by 53 characters; make one with "
                              "`htpasswd -nBC 10 \"\" | tr -d ':'`)")
        users[user] = encoded
    return users
