"""k8s/components/otel, added to an overlay as a user would: valid against the Kubernetes schemas, every service
exporting to the collector by the standard variables, the collector fanning out to the trace receiver and to
Jaeger at the Services the component defines, and the suite's NetworkPolicies letting the spans out."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.k8s import tools
from tests.k8s.conftest import Rendered
from tests.k8s.manifests import can_connect, config_data, container_env, containers, of_kind, pod_template

SERVICES = ("identity", "todos", "reminders", "shares", "gateway", "web")
OVERLAY = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../k8s/base]
components: [../../k8s/components/modes/passthrough, ../../k8s/components/otel]
"""


@pytest.fixture(scope="module")
def with_otel(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    # Inside the repository, like the overlays (kustomize loads directories relative to the kustomization).
    folder = tools.REPO / ".run" / "k8s-otel-overlay"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(OVERLAY)
    text = tools.render(kubectl, folder)
    path = tmp_path_factory.mktemp("otel") / "passthrough-otel.yaml"
    path.write_text(text)
    return Rendered("passthrough+otel", "passthrough", False, text, [d for d in yaml.safe_load_all(text) if d], path)


def _by(docs: list[dict[str, Any]], kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {name: d for name, d in of_kind(docs, kind).items() if d["metadata"].get("namespace") == namespace}


def test_valid_against_the_kubernetes_schemas(with_otel: Rendered) -> None:
    try:
        result = tools.uv_tool(tools.KUBERNETES_VALIDATE, "kubernetes-validate", "--strict", "-k",
                               tools.KUBERNETES_VERSION, "--quiet", str(with_otel.path))  # fmt: skip
    except tools.ToolUnavailable as e:
        pytest.skip(str(e))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_every_service_exports_to_the_collector_the_policies_let_it_reach(with_otel: Rendered) -> None:
    docs = with_otel.docs
    endpoint = urlsplit(config_data(docs, "authz-config")["OTEL_EXPORTER_OTLP_ENDPOINT"])
    service_name, namespace = str(endpoint.hostname).split(".")[:2]
    collector = _by(docs, "Service", namespace)[service_name]
    assert endpoint.port in [p["port"] for p in collector["spec"]["ports"]]
    netpols = list(of_kind(docs, "NetworkPolicy").values())
    ns_labels = {"kubernetes.io/metadata.name": namespace}
    for service in SERVICES:
        deployment = of_kind(docs, "Deployment")[service]
        (main,) = [c for c in containers(pod_template(deployment)["spec"]) if c["name"] == service]
        env = container_env(docs, main)
        assert (env["OTEL_SDK_DISABLED"], env["AUTHZ_TRACE_TOKEN_CONTENTS"]) == ("false", "false")
        labels = pod_template(deployment)["metadata"]["labels"]
        assert can_connect(netpols, labels, collector["spec"]["selector"], int(endpoint.port or 0),
                           dst_namespace=ns_labels), service  # fmt: skip


def test_the_collector_fans_out_to_the_receiver_and_jaeger(with_otel: Rendered) -> None:
    docs = with_otel.docs
    config = yaml.safe_load(config_data(docs, "otel-collector-config")["config.yaml"])
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    services = _by(docs, "Service", "observability")
    targets = {}
    for name in pipeline["exporters"]:
        endpoint = config["exporters"][name]["endpoint"]
        host_port = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
        host, namespace = str(host_port.hostname).split(".")[:2]
        assert namespace == "observability"
        assert host_port.port in [p["port"] for p in services[host]["spec"]["ports"]]
        targets[host] = name
    assert set(targets) == {"trace-receiver", "jaeger"}
    receiver = _by(docs, "Deployment", "observability")["trace-receiver"]
    (container,) = containers(pod_template(receiver)["spec"])
    assert container["command"][:3] == ["python", "-m", "telemetry.receiver"]


def test_web_reads_the_receiver_the_collector_fans_out_to(with_otel: Rendered) -> None:
    """The token journey view works on Kubernetes too: web's WEB_TRACES_URL is the receiver's Service, reachable."""
    docs = with_otel.docs
    url = urlsplit(config_data(docs, "web-config")["WEB_TRACES_URL"])
    host, namespace = str(url.hostname).split(".")[:2]
    receiver = _by(docs, "Service", namespace)[host]
    assert (host, url.port) == ("trace-receiver", receiver["spec"]["ports"][0]["port"])
    web = of_kind(docs, "Deployment")["web"]
    assert can_connect(list(of_kind(docs, "NetworkPolicy").values()), pod_template(web)["metadata"]["labels"],
                       receiver["spec"]["selector"], int(url.port or 0),
                       dst_namespace={"kubernetes.io/metadata.name": namespace})  # fmt: skip


def test_the_base_traces_nothing_and_never_puts_token_contents_on_spans(renders) -> None:
    for r in renders.by_overlay.values():
        authz = config_data(r.docs, "authz-config")
        assert (authz["OTEL_SDK_DISABLED"], authz["AUTHZ_TRACE_TOKEN_CONTENTS"]) == ("true", "false"), r.overlay
