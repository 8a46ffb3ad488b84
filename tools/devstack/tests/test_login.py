"""`python -m devstack.login`: what it refuses before any token is issued (the whole flow is e2e: test_sign_in.py)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from devstack import login
from devstack.ports import free_ports


def test_unreachable_identity_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_ports(1)  # nothing listens there
    assert login.main(["--issuer", f"http://127.0.0.1:{port}", "--no-browser"]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # stdout is for tokens only
    assert "sign-in failed" in err


def test_pkce_pair_is_s256() -> None:
    pair = login.Pkce.new()
    assert 43 <= len(pair.verifier) <= 128
    assert len(pair.challenge) == 43
    assert pair.challenge != pair.verifier


class TestIdToken:
    ISSUER = "http://identity.test"

    def _signed(self, key: ec.EllipticCurvePrivateKey, **claims: object) -> str:
        body = {"iss": self.ISSUER, "sub": "u", "aud": login.CLIENT_ID, "exp": 4_000_000_000, "iat": 1, "nonce": "n"}
        return jwt.encode(body | claims, key, algorithm="ES256", headers={"kid": "k1"})

    def _jwks(self, key: ec.EllipticCurvePrivateKey) -> jwt.PyJWKSet:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1", "alg": "ES256"}
        return jwt.PyJWKSet.from_dict({"keys": [jwk]})

    def test_valid(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        claims = login.verify_id_token(self._signed(key), self._jwks(key), issuer=self.ISSUER, nonce="n")
        assert claims["sub"] == "u"

    @pytest.mark.parametrize("claims", [{"nonce": "other"}, {"aud": "web"}, {"iss": "http://evil.test"}, {"exp": 2}])
    def test_refused(self, claims: dict[str, object]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        with pytest.raises(login.SignInFailed):
            login.verify_id_token(self._signed(key, **claims), self._jwks(key), issuer=self.ISSUER, nonce="n")

    def test_other_key(self) -> None:
        key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        with pytest.raises(login.SignInFailed):
            login.verify_id_token(self._signed(other), self._jwks(key), issuer=self.ISSUER, nonce="n")
