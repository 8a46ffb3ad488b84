"""The realm's `kubectl` client: what kubelogin needs to sign a person in to a Kubernetes API server that
trusts identity (docs/kubernetes-oidc.md) — a public client with a loopback redirect, and ID tokens whose
`roles` the API server maps to groups."""

from __future__ import annotations

from identity.authorization import redirect_uri_matches
from identity.realm import load_realm
from identity.settings import DEMO_REALM


def test_kubelogin_redirects_to_a_loopback_port_and_nowhere_else() -> None:
    client = load_realm(DEMO_REALM).clients["kubectl"]
    assert client.public
    assert client.loopback_redirect
    assert redirect_uri_matches(client, "http://127.0.0.1:8000")
    assert redirect_uri_matches(client, "http://127.0.0.1:18000")
    assert not redirect_uri_matches(client, "http://localhost:8000")
    assert not redirect_uri_matches(client, "http://127.0.0.1:8000/elsewhere")
    assert not redirect_uri_matches(client, "https://evil.example:8000")
