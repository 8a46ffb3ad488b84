"""Loading the policy: what a valid one means, and the clear errors for what the generators cannot enforce."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshgen.policy import PolicyError, load_policy, parse_policy, path_kind

VALID = """
namespace: demo
workloads: [a, b]
services:
  a:
    allow:
      - from: [b]
        to:
          - methods: [GET]
            paths: [/a/x]
"""


def parse(services: str, head: str = "namespace: demo\nworkloads: [a, b]\n") -> None:
    parse_policy(head + "services:\n" + textwrap.indent(textwrap.dedent(services), "  "), "test.yaml")


def error_of(services: str, **kwargs: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse(services, **kwargs)
    return str(caught.value)


class TestValid:
    def test_the_repository_policy_loads(self, policy) -> None:
        assert policy.workloads == ("gateway", "identity", "todos", "reminders", "shares", "web")
        assert policy.namespace == "todo-suite"
        assert policy.spiffe_id("reminders") == "spiffe://cluster.local/ns/todo-suite/sa/reminders"
        assert policy.istio_principal("reminders") == "cluster.local/ns/todo-suite/sa/reminders"

    def test_a_small_policy(self) -> None:
        policy = parse_policy(VALID)
        (rule,) = policy.rules("a")
        assert rule.callers == ("b",)
        assert rule.to[0].methods == ("GET",)
        assert policy.rules("b") == ()  # left out: nobody may call it
        assert policy.destinations_of("b") == ["a"]
        assert policy.destinations_of("a") == []

    @pytest.mark.parametrize(
        ("path", "kind"),
        [
            ("/todos/due", "exact"),
            ("/", "exact"),
            ("/todos/*", "prefix"),
            ("/*", "prefix"),
            ("/todos/{*}", "template"),
            ("/todos/{*}/grants/{*}", "template"),
            ("/files/{**}", "template"),
        ],
    )
    def test_path_shapes(self, path: str, kind: str) -> None:
        parse(f"a:\n  allow:\n    - from: [b]\n      to: [{{paths: ['{path}']}}]\n")
        assert path_kind(path) == kind


class TestErrors:
    def test_unknown_key(self) -> None:
        message = error_of("a:\n  allow:\n    - from: [b]\n      to: [{method: [GET], paths: [/a]}]\n")
        assert "services.a.allow.0.to.0.method: unknown key" in message

    def test_unknown_top_level_key(self) -> None:
        with pytest.raises(PolicyError, match=r"servicez: unknown key"):
            parse_policy("namespace: demo\nworkloads: [a]\nservicez: {}\n")

    def test_unknown_service(self) -> None:
        assert "services.z: unknown workload 'z' (workloads: a, b)" in error_of("z: {allow: []}\n")

    def test_unknown_caller(self) -> None:
        message = error_of("a:\n  allow:\n    - from: [bb]\n      to: [{paths: [/a]}]\n")
        assert "services.a.allow.0.from: unknown caller 'bb'" in message

    @pytest.mark.parametrize("method", ["get", "FETCH", "CONNECT"])
    def test_bad_method(self, method: str) -> None:
        message = error_of(f"a:\n  allow:\n    - from: [b]\n      to: [{{methods: [{method}], paths: [/a]}}]\n")
        assert f"services.a.allow.0.to.0.methods.0: '{method}' is not a method" in message

    @pytest.mark.parametrize(
        ("path", "says"),
        [
            ("todos/due", "does not start with '/'"),
            ("/todos*", "'*' is allowed only as '/*' at the end"),
            ("/*/due", "'*' is allowed only as '/*' at the end"),
            ("/todos/{id}", "the only templates are whole segments"),
            ("/{**}/x", "'{**}' may only be the last segment"),
            ("/todos/{*}/*", "mixes a template with a prefix"),
            ("/todos?x=1", "paths are matched without the query string"),
            ("/todos/../admin", "is not normalised"),
            ("/todos//due", "is not normalised"),
            ("/to dos", "characters a normalised path cannot have"),
            ("/todos/%2F", "characters a normalised path cannot have"),
        ],
    )
    def test_bad_path(self, path: str, says: str) -> None:
        message = error_of(f"a:\n  allow:\n    - from: [b]\n      to: [{{paths: ['{path}']}}]\n")
        assert "services.a.allow.0.to.0.paths.0" in message
        assert says in message

    def test_an_operation_needs_paths(self) -> None:
        assert "services.a.allow.0.to.0.paths: Field required" in error_of(
            "a:\n  allow:\n    - from: [b]\n      to: [{methods: [GET]}]\n"
        )

    def test_a_rule_needs_callers(self) -> None:
        assert "services.a.allow.0.from: Tuple should have at least 1 item" in error_of(
            "a:\n  allow:\n    - from: []\n      to: [{paths: [/a]}]\n"
        )

    def test_probes_are_exact(self) -> None:
        with pytest.raises(PolicyError, match=r"probes.0: '/health\*': probe paths are exact"):
            parse_policy("namespace: demo\nworkloads: [a]\nprobes: ['/health*']\n")

    def test_ingress_is_not_a_workload(self) -> None:
        with pytest.raises(PolicyError, match="'ingress' is the edge, not a workload"):
            parse_policy("namespace: demo\nworkloads: [a, ingress]\n")

    def test_bad_names(self) -> None:
        with pytest.raises(PolicyError, match=r"workloads.0: 'Todos' is not a service account name"):
            parse_policy("namespace: demo\nworkloads: [Todos]\n")
        with pytest.raises(PolicyError, match=r"trust_domain: 'spiffe://x' is not a SPIFFE trust domain"):
            parse_policy("trust_domain: spiffe://x\nnamespace: demo\nworkloads: [a]\n")

    def test_a_duplicate_key_is_not_silently_dropped(self) -> None:
        text = VALID + "  a:\n    allow: []\n"
        with pytest.raises(PolicyError, match="duplicate key 'a'"):
            parse_policy(text)

    def test_not_yaml_or_not_a_mapping(self) -> None:
        with pytest.raises(PolicyError, match="not valid YAML"):
            parse_policy("workloads: [a")
        with pytest.raises(PolicyError, match="expected a mapping"):
            parse_policy("- a\n")

    def test_every_problem_is_listed(self) -> None:
        message = error_of(
            "a:\n  allow:\n    - from: [b]\n      to: [{methods: [get], paths: [x, /y]}]\n    - frm: [b]\n"
        )
        assert message.startswith("test.yaml: 6 problem(s)\n")
        for where in ("0.to.0.methods.0", "0.to.0.paths.0", "1.from", "1.to", "1.frm"):
            assert f"  services.a.allow.{where}: " in message

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(PolicyError, match="cannot read the policy"):
            load_policy(tmp_path / "nope.yaml")
