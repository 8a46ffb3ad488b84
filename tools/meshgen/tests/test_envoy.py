"""The Envoy configs: one test per kind of rule, read through `allows` (the RBAC filter's meaning), and the
listeners, TLS and upstreams around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshgen.envoy import default_layout, envoy_configs, inbound_config, outbound_config, write_envoy_configs

A, B, C = (f"spiffe://cluster.local/ns/demo/sa/{w}" for w in "abc")


def rule(callers: list[str], *operations: dict) -> dict:
    return {"from": callers, "to": list(operations)}


class TestRuleKinds:
    def test_exact_path(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a/due"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/a/due")
        assert allows(filt, B, "GET", "/a/due?within=24h")  # the query string takes no part
        assert not allows(filt, B, "GET", "/a/due/x")
        assert not allows(filt, B, "GET", "/a/dueX")
        assert not allows(filt, B, "GET", "/a")
        assert filt["typed_config"]["rules"]["policies"]["a-rule-0-from-b"]["permissions"][0]["and_rules"]["rules"] == [
            {"or_rules": {"rules": [{"url_path": {"path": {"exact": "/a/due"}}}]}}
        ]

    def test_prefix_path(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a/*"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/a/1")
        assert allows(filt, B, "DELETE", "/a/1/grants/2")
        assert not allows(filt, B, "GET", "/a")  # `/a/*` is what is under /a/, not /a itself
        assert not allows(filt, B, "GET", "/ab")
        (matcher,) = filt["typed_config"]["rules"]["policies"]["a-rule-0-from-b"]["permissions"][0]["and_rules"][
            "rules"
        ][0]["or_rules"]["rules"]
        assert matcher == {"url_path": {"path": {"prefix": "/a/"}}}

    def test_template_path(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a/{*}/grants/{*}"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "PUT", "/a/1/grants/2")
        assert not allows(filt, B, "PUT", "/a/1/grants")
        assert not allows(filt, B, "PUT", "/a/1/2/grants/3")
        assert not allows(filt, B, "PUT", "/a/1/grants/2/3")
        matcher = str(filt["typed_config"]["rules"]["policies"])
        assert "'path_template': '/a/*/grants/*'" in matcher  # Envoy's syntax for Istio's {*}
        assert "UriTemplateMatchConfig" in matcher

    def test_method_restriction(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"methods": ["GET", "HEAD"], "paths": ["/a"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/a")
        assert allows(filt, B, "HEAD", "/a")
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            assert not allows(filt, B, method, "/a")

    def test_no_methods_means_any(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert all(allows(filt, B, m, "/a") for m in ("GET", "POST", "DELETE"))

    def test_operations_of_a_rule_are_alternatives(self, small, layout, rbac, allows) -> None:
        policy = small(
            {
                "a": {
                    "allow": [
                        rule(["b"], {"methods": ["GET"], "paths": ["/r"]}, {"methods": ["POST"], "paths": ["/w"]})
                    ]
                }
            }
        )
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/r")
        assert allows(filt, B, "POST", "/w")
        assert not allows(filt, B, "POST", "/r")
        assert not allows(filt, B, "GET", "/w")

    def test_multiple_principals(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b", "c"], {"paths": ["/a"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/a")
        assert allows(filt, C, "GET", "/a")
        assert not allows(filt, "spiffe://cluster.local/ns/demo/sa/d", "GET", "/a")
        assert not allows(filt, "spiffe://cluster.local/ns/other/sa/b", "GET", "/a")  # same name, other namespace
        assert not allows(filt, None, "GET", "/a")
        (policy_entry,) = filt["typed_config"]["rules"]["policies"].values()
        assert policy_entry["principals"] == [
            {"authenticated": {"principal_name": {"exact": B}}},
            {"authenticated": {"principal_name": {"exact": C}}},
        ]

    def test_rules_are_per_caller(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/b-only"]}), rule(["c"], {"paths": ["/c-only"]})]}})
        filt = rbac(inbound_config(policy, "a", layout(policy)), "a_mtls")
        assert allows(filt, B, "GET", "/b-only")
        assert not allows(filt, B, "GET", "/c-only")
        assert allows(filt, C, "GET", "/c-only")
        assert not allows(filt, C, "GET", "/b-only")

    def test_a_service_nobody_may_call(self, small, layout, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
        for service in ("b", "c"):  # b is left out of `services`; and c too
            config = inbound_config(policy, service, layout(policy))
            filt = rbac(config, f"{service}_mtls")
            assert filt["typed_config"]["rules"] == {"action": "ALLOW", "policies": {}}
            assert not any(allows(filt, peer, "GET", "/a") for peer in (A, B, C, None))
        assert "c" not in [d for w in policy.workloads for d in policy.destinations_of(w)]

    def test_default_deny_an_rbac_config_with_no_policy_allows_nothing(self, allows) -> None:
        from meshgen.envoy import rbac_filter

        filt = rbac_filter({})
        for peer in (A, B, None):
            for method, path in (("GET", "/"), ("POST", "/a"), ("GET", "/healthz")):
                assert not allows(filt, peer, method, path)


class TestInbound:
    def test_the_mtls_listener(self, small, tmp_path: Path) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
        layout = default_layout(policy, tmp_path)
        config = inbound_config(policy, "a", layout)
        listener = config["static_resources"]["listeners"][0]
        assert listener["name"] == "a_mtls"
        assert listener["address"] == {"pipe": {"path": str(tmp_path / "sockets" / "a-mtls.sock"), "mode": 0o600}}
        tls = listener["filter_chains"][0]["transport_socket"]["typed_config"]
        assert tls["@type"].endswith("transport_sockets.tls.v3.DownstreamTlsContext")
        assert tls["require_client_certificate"] is True
        common = tls["common_tls_context"]
        assert common["validation_context"]["trusted_ca"] == {"filename": str(tmp_path / "pki" / "ca.pem")}
        assert common["validation_context"]["match_typed_subject_alt_names"] == [
            {"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}
        ]
        assert common["tls_certificates"] == [
            {
                "certificate_chain": {"filename": str(tmp_path / "pki" / "a.pem")},
                "private_key": {"filename": str(tmp_path / "pki" / "a.key")},
            }
        ]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        assert hcm["forward_client_cert_details"] == "SANITIZE_SET"
        assert hcm["set_current_client_cert_details"] == {"subject": True, "uri": True}
        assert hcm["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
        assert hcm["normalize_path"] is True

    def test_the_app_is_reached_over_its_unix_socket(self, small, tmp_path: Path) -> None:
        policy = small({})
        config = inbound_config(policy, "a", default_layout(policy, tmp_path))
        (cluster,) = config["static_resources"]["clusters"]
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert endpoint["address"] == {"pipe": {"path": str(tmp_path / "sockets" / "a.sock")}}
        assert "transport_socket" not in cluster  # plaintext HTTP/1.1 to the app, on a socket only it uses

    def test_the_probe_listener(self, small, layout, rbac, allows) -> None:
        policy = small({})
        lay = layout(policy)
        config = inbound_config(policy, "a", lay)
        probes = next(item for item in config["static_resources"]["listeners"] if item["name"] == "a_probes")
        assert probes["address"] == {"pipe": {"path": str(lay.probe["a"]), "mode": 0o600}}
        assert "transport_socket" not in probes["filter_chains"][0]
        filt = rbac(config, "a_probes")
        assert allows(filt, None, "GET", "/healthz")
        assert not allows(filt, None, "POST", "/healthz")
        assert not allows(filt, None, "GET", "/a")
        # ...and never on the mTLS listener, whoever asks.
        assert not allows(rbac(config, "a_mtls"), B, "GET", "/healthz")

    def test_the_ingress_listener_only_where_the_edge_may_call(self, small, tmp_path: Path, rbac, allows) -> None:
        policy = small({"a": {"allow": [rule(["ingress"], {"paths": ["/*"]}), rule(["b"], {"paths": ["/jwks"]})]}})
        layout = default_layout(policy, tmp_path, ingress_ports={"a": 28080, "b": 28081})
        assert layout.ingress == {"a": 28080}  # b: the edge may not call it, so no public listener
        config = inbound_config(policy, "a", layout)
        names = [item["name"] for item in config["static_resources"]["listeners"]]
        assert names == ["a_mtls", "a_probes", "a_ingress"]
        edge = config["static_resources"]["listeners"][2]
        # The one kind of listener on TCP: the public stand-in for an ingress.
        assert edge["address"] == {"socket_address": {"address": "127.0.0.1", "port_value": 28080}}
        assert "transport_socket" not in edge["filter_chains"][0]
        hcm = edge["filter_chains"][0]["filters"][0]["typed_config"]
        assert hcm["forward_client_cert_details"] == "SANITIZE"  # a client cannot pose as a mesh peer
        assert allows(rbac(config, "a_ingress"), None, "POST", "/anything")
        # The edge's rules are not the mesh's, and the other way round.
        assert not allows(rbac(config, "a_mtls"), None, "GET", "/x")
        assert not allows(rbac(config, "a_mtls"), B, "GET", "/x")
        assert allows(rbac(config, "a_mtls"), B, "GET", "/jwks")
        assert not any("ingress" in n for n in names[:2])
        no_port = default_layout(policy, tmp_path, ingress_ports={})
        assert [item["name"] for item in inbound_config(policy, "a", no_port)["static_resources"]["listeners"]] == [
            "a_mtls",
            "a_probes",
        ]


class TestOutbound:
    def test_one_listener_per_destination_with_the_callers_certificate(self, small, tmp_path: Path) -> None:
        policy = small(
            {"a": {"allow": [rule(["c"], {"paths": ["/a"]})]}, "b": {"allow": [rule(["c"], {"paths": ["/b"]})]}}
        )
        layout = default_layout(policy, tmp_path)
        config = outbound_config(policy, "c", layout)
        listeners = config["static_resources"]["listeners"]
        assert [item["name"] for item in listeners] == ["to_a", "to_b"]
        assert listeners[0]["address"] == {"pipe": {"path": str(tmp_path / "sockets" / "c-to-a.sock"), "mode": 0o600}}
        assert "transport_socket" not in listeners[0]["filter_chains"][0]  # the app speaks plain HTTP to it
        cluster = config["static_resources"]["clusters"][0]
        assert cluster["name"] == "a"
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert address == {"pipe": {"path": str(layout.inbound["a"])}}  # a's mTLS listener; mode is a listener's
        tls = cluster["transport_socket"]["typed_config"]
        assert tls["@type"].endswith("UpstreamTlsContext")
        common = tls["common_tls_context"]
        assert common["tls_certificates"][0]["certificate_chain"]["filename"] == str(tmp_path / "pki" / "c.pem")
        # The caller checks the callee too: only a's certificate will do for a.
        assert common["validation_context"]["match_typed_subject_alt_names"] == [
            {"san_type": "URI", "matcher": {"exact": A}}
        ]

    def test_no_listener_towards_what_the_policy_forbids(self, policy, layout) -> None:
        todos = outbound_config(policy, "todos", layout(policy))
        assert [item["name"] for item in todos["static_resources"]["listeners"]] == ["to_gateway", "to_identity"]
        reminders = outbound_config(policy, "reminders", layout(policy))
        assert "to_shares" not in [item["name"] for item in reminders["static_resources"]["listeners"]]

    def test_a_workload_that_calls_nobody_has_no_outbound_config(self, small, layout) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
        assert sorted(envoy_configs(policy, layout(policy))) == [
            "a-inbound.yaml",
            "b-inbound.yaml",
            "b-outbound.yaml",
            "c-inbound.yaml",
            "d-inbound.yaml",
        ]


class TestLayout:
    def test_every_address_but_the_public_ports_is_a_socket_in_one_folder(self, policy, tmp_path: Path) -> None:
        layout = default_layout(policy, tmp_path)
        sockets = layout.all_sockets()
        assert len(sockets) == len(set(sockets))
        assert {path.parent for path in sockets} == {tmp_path / "sockets"}
        assert layout.ingress == {"gateway": 8080, "identity": 9000, "web": 8000}  # the local contract's public ports
        for config in envoy_configs(policy, layout).values():
            # Admin interfaces too: they could drain or stop a sidecar.
            assert config["admin"]["address"]["pipe"]["mode"] == 0o600
            for listener in config["static_resources"]["listeners"]:
                if listener["name"].endswith("_ingress"):
                    assert listener["address"]["socket_address"]["port_value"] in (8080, 9000, 8000)
                else:
                    assert listener["address"]["pipe"]["mode"] == 0o600, listener["name"]

    def test_a_socket_path_too_long_for_sun_path_is_refused(self, policy, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="limited to 107 bytes"):
            default_layout(policy, tmp_path / ("x" * 100))

    def test_written_files_say_they_are_generated_and_stale_ones_go(self, small, tmp_path: Path) -> None:
        policy = small({"a": {"allow": [rule(["b"], {"paths": ["/a"]})]}})
        out = tmp_path / "envoy"
        out.mkdir()
        (out / "old-outbound.yaml").write_text("stale")
        paths = write_envoy_configs(policy, default_layout(policy, tmp_path), out, "# generated\n")
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
        assert all(p.read_text().startswith("# generated\n") for p in paths)


@pytest.mark.parametrize(
    ("peer", "method", "path", "allowed"),
    [
        ("reminders", "GET", "/todos/due", True),
        ("reminders", "GET", "/todos", False),
        ("reminders", "POST", "/todos/due", False),
        ("reminders", "GET", "/todos/11111111-1111-1111-1111-111111111111", False),
        ("shares", "GET", "/todos/shared", True),
        ("shares", "GET", "/todos/11111111-1111-1111-1111-111111111111", True),
        ("shares", "PUT", "/todos/11111111-1111-1111-1111-111111111111/grants/u1", True),
        ("shares", "DELETE", "/todos/11111111-1111-1111-1111-111111111111/grants/u1", True),
        ("shares", "DELETE", "/todos/11111111-1111-1111-1111-111111111111", False),
        ("shares", "PATCH", "/todos/11111111-1111-1111-1111-111111111111", False),
        ("shares", "POST", "/todos", False),
        ("gateway", "POST", "/todos", True),
        ("gateway", "DELETE", "/todos/11111111-1111-1111-1111-111111111111", True),
        ("identity", "GET", "/todos", False),
        ("todos", "GET", "/todos", False),
    ],
)
def test_the_suites_todos_sidecar(policy, layout, rbac, allows, peer, method, path, allowed) -> None:
    filt = rbac(inbound_config(policy, "todos", layout(policy)), "todos_mtls")
    assert allows(filt, policy.spiffe_id(peer), method, path) is allowed


@pytest.mark.parametrize("callee", ["reminders", "shares"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/{callee}"), ("POST", "/{callee}"), ("GET", "/{callee}/1")])
def test_todos_calls_no_service_of_the_suite(policy, layout, rbac, allows, callee, method, path) -> None:
    # docs/mesh.md: todos is a callee only. Its certificate opens neither sidecar, whatever it asks for.
    filt = rbac(inbound_config(policy, callee, layout(policy)), f"{callee}_mtls")
    assert not allows(filt, policy.spiffe_id("todos"), method, path.format(callee=callee)), (
        f"todos may call {callee}: the peer policy no longer denies it"
    )
