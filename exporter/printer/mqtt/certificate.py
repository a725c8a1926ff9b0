"""Who answers on port 8883: a printer's certificate checked against a CA bundle.

Bambu printers present a certificate from Bambu's printer CA whose subject CN is the
printer's serial. With a bundle given (--printer.ca-file), the chain must lead to it and
the CN must be the serial, or the session ends before CONNECT, so the access code never
goes to whatever else answers on the address. Host names are not checked: printers are
listed by IP and their certificates name no address. Bambu's CA certificates carry no
keyUsage extension, which OpenSSL's strict mode (Python 3.13's default) refuses; that
strictness guards nothing here, where the bundle is the only trust.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any


class CertificateRejected(Exception):
    """The printer's certificate is not the one its serial should present."""


def trust_bundle(context: ssl.SSLContext, ca_file: str) -> None:
    """Require certificates that chain to the PEM bundle `ca_file` (OSError or
    ssl.SSLError for a file that holds none)."""
    context.load_verify_locations(cafile=ca_file)
    if not context.get_ca_certs():
        raise ssl.SSLError(f"{ca_file} holds no CA certificate")
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    # A CA in the bundle is trusted as it is, intermediate or root (as Python 3.13 does).
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN


def subject_cn(certificate: Mapping[str, Any]) -> str | None:
    """The subject's commonName in getpeercert()'s form."""
    subject = certificate.get("subject")
    if not isinstance(subject, tuple):
        return None
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def check_serial(sock: ssl.SSLSocket, serial: str) -> None:
    """CertificateRejected unless the verified certificate's CN is `serial` (any case).
    Only for a context that verifies (getpeercert is empty otherwise)."""
    certificate = sock.getpeercert()
    cn = subject_cn(certificate) if certificate else None
    if cn is None:
        raise CertificateRejected("the printer's certificate names no CN")
    if cn.upper() != serial.upper():
        raise CertificateRejected(f"the printer's certificate is for CN={cn!r}, not for the "
                                  f"serial {serial}: another printer, or something else, "
                                  "answers on this address")


def describe_verify_error(exc: ssl.SSLCertVerificationError) -> str:
    """What was wrong with a chain that did not verify, in words."""
    message = exc.verify_message or str(exc)
    # self-signed leaf (18) or root (19), issuer unknown (2, 20): outside the bundle
    if exc.verify_code in (2, 18, 19, 20):
        return f"certificate not trusted: {message} (its issuer is not in --printer.ca-file)"
    return f"certificate not trusted: {message}"
