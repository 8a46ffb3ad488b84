"""The development PKI: a leaf chains to the CA, names its workload's SPIFFE ID, lives 24 h, serves both ends."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from meshgen.pki import issue_leaf, make_ca, write_pki

SPIFFE = "spiffe://cluster.local/ns/todo-suite/sa/reminders"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory):
    return write_pki(
        tmp_path_factory.mktemp("pki"), [("reminders", SPIFFE), ("todos", SPIFFE.replace("reminders", "todos"))]
    )


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_leaf_chains_to_the_ca(written) -> None:
    ca, leaf = load(written.ca), load(written.certificate("reminders"))
    leaf.verify_directly_issued_by(ca)
    # And as a TLS client certificate, with the same path validation a TLS stack does.
    verifier = PolicyBuilder().store(Store([ca])).time(leaf.not_valid_before_utc).build_client_verifier()
    verified = verifier.verify(leaf, [])
    assert [x509.UniformResourceIdentifier(SPIFFE)] == list(verified.subjects or [])


def test_a_leaf_from_another_ca_does_not_chain(written) -> None:
    other = issue_leaf(make_ca(), "reminders", SPIFFE)
    with pytest.raises(InvalidSignature):
        other.certificate.verify_directly_issued_by(load(written.ca))


def test_the_san_is_the_spiffe_uri_and_only_that(written) -> None:
    leaf = load(written.certificate("reminders"))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [SPIFFE]
    assert san.get_values_for_type(x509.DNSName) == []
    assert load(written.certificate("todos")).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.UniformResourceIdentifier) == [SPIFFE.replace("reminders", "todos")]


def test_valid_for_24_hours(written) -> None:
    for path in (written.ca, written.certificate("reminders")):
        cert = load(path)
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=24)
        assert abs(cert.not_valid_before_utc - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_key_usage_for_client_and_server_auth(written) -> None:
    leaf = load(written.certificate("reminders"))
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is False


def test_the_ca_signs_leaves_only(written) -> None:
    ca = load(written.ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    assert constraints.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign


def test_keys_are_p256_and_private(written) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key_path = written.key("reminders")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.directory.stat().st_mode) == 0o700
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == load(written.certificate("reminders")).public_key()
    assert not (written.directory / "ca.key").exists()  # nothing can sign another certificate later


def test_each_call_makes_a_new_ca(tmp_path: Path) -> None:
    first = load(write_pki(tmp_path, [("a", SPIFFE)]).ca)
    (tmp_path / "a.key").chmod(0o644)  # a looser mode from before is tightened again
    files = write_pki(tmp_path, [("a", SPIFFE)])
    assert load(files.ca).serial_number != first.serial_number
    assert stat.S_IMODE(files.key("a").stat().st_mode) == 0o600
