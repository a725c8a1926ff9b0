"""certificate.py: the bundle a printer's certificate must chain to, and its CN, checked
against certificates of the simulator's CA (real openssl, real TLS in memory)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from exporter.printer.mqtt.bambu import make_tls_context
from exporter.printer.mqtt.certificate import (
    CertificateRejected,
    check_serial,
    describe_verify_error,
    subject_cn,
    trust_bundle,
)
from exporter.simulator.certs import PrinterPki

pytestmark = pytest.mark.tier("e2e")

SERIAL = "01P00A000000001"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PrinterPki:
    return PrinterPki(tmp_path_factory.mktemp("pki"))


def handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> ssl.SSLObject:
    """A TLS handshake in memory; the client's SSLObject once done (or the error)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    tls_client = client.wrap_bio(c_in, c_out, server_hostname="printer")
    tls_server = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = True
        for tls, out, peer_in in ((tls_client, c_out, s_in), (tls_server, s_out, c_in)):
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            peer_in.write(out.read())
        if done:
            return tls_client
    raise AssertionError("handshake did not finish")


def test_the_bundle_is_required_and_strict_x509_cleared(pki: PrinterPki) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_flags |= ssl.VERIFY_X509_STRICT   # as Python 3.13 sets it
    trust_bundle(context, str(pki.ca_file))
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    assert not context.verify_flags & ssl.VERIFY_X509_STRICT


def test_a_printer_of_the_ca_named_by_its_serial_passes(pki: PrinterPki) -> None:
    tls = handshake(make_tls_context(str(pki.ca_file)), pki.context(SERIAL))
    check_serial(tls, SERIAL.lower())   # type: ignore[arg-type]  # an SSLObject will do
    assert tls.version() == "TLSv1.2"


def test_another_cn_is_rejected_naming_it(pki: PrinterPki) -> None:
    tls = handshake(make_tls_context(str(pki.ca_file)), pki.context("01P00A000000002"))
    with pytest.raises(CertificateRejected, match="CN='01P00A000000002'"):
        check_serial(tls, SERIAL)   # type: ignore[arg-type]


def test_a_self_signed_certificate_does_not_verify(pki: PrinterPki) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as error:
        handshake(make_tls_context(str(pki.ca_file)), pki.context(SERIAL, self_signed=True))
    assert "not in --printer.ca-file" in describe_verify_error(error.value)


def test_without_a_bundle_nothing_is_verified(pki: PrinterPki) -> None:
    tls = handshake(make_tls_context(), pki.context("anything", self_signed=True))
    assert tls.getpeercert() == {}


def test_a_file_without_certificates_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        make_tls_context(str(empty))


def test_subject_cn() -> None:
    assert subject_cn({"subject": ((("countryName", "CN"),), (("commonName", "X"),))}) == "X"
    assert subject_cn({}) is None
