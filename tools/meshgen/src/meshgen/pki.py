"""The development PKI of the local mesh: a CA and one certificate per workload, made anew at each run.

Each leaf is what Istio's CA hands a sidecar: an EC P-256 key and a certificate whose URI SAN is the
workload's SPIFFE ID, good for both ends of mutual TLS (server and client auth), valid 24 hours. The
CA's key is never written: nothing can sign another certificate once `write_pki` returns, and a new run
means a new CA (restart the sidecars after it). Development only: a real mesh's CA is istiod's or your
own, and its certificates rotate without a restart.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Issued:
    """A key and the certificate for it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "todo-suite development mesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    more = ("key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{flag: allowed.get(flag, False) for flag in flags + more})


def make_ca(now: dt.datetime | None = None, common_name: str = "todo-suite development CA") -> Issued:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, certificate)


def issue_leaf(ca: Issued, workload: str, spiffe_id: str, now: dt.datetime | None = None) -> Issued:
    """A workload certificate: SPIFFE URI SAN, serverAuth + clientAuth, signed by `ca`."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(workload))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key, certificate)


@dataclass(frozen=True)
class PkiFiles:
    """Where `write_pki` put things: the CA certificate, and each workload's certificate and key."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def certificate(self, workload: str) -> Path:
        return self.directory / f"{workload}.pem"

    def key(self, workload: str) -> Path:
        return self.directory / f"{workload}.key"


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode, and chmod-ed again in case it existed with a looser one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(mode)


def write_pki(directory: Path, spiffe_ids: Iterable[tuple[str, str]]) -> PkiFiles:
    """A new CA and a leaf per `(workload, spiffe_id)`, written as PEM: certificates 0644, keys 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    files = PkiFiles(directory)
    ca = make_ca()
    _write(files.ca, ca.certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    for workload, spiffe_id in spiffe_ids:
        leaf = issue_leaf(ca, workload, spiffe_id)
        _write(files.certificate(workload), leaf.certificate.public_bytes(serialization.Encoding.PEM), 0o644)
        key_pem = leaf.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(files.key(workload), key_pem, 0o600)
    return files
