"""In Istio, the app of a mesh-only workload listens on a Unix socket that only its sidecar can reach.

Why: with the app on a TCP port of the pod, `kubectl port-forward` to the pod (it connects to the port on
the pod's localhost, where the sidecar's traffic capture does not apply) and any other container of the
pod reach the app without the sidecar, and can write their own `X-Forwarded-Client-Cert` — the header
a service reads its caller from. Binding the app to 127.0.0.1 would not help: port-forward connects there
too, and since Istio 1.10 the sidecar forwards inbound traffic to the pod IP, not to localhost.

So, for each workload the edge never calls (todos, reminders, shares; the gateway and identity are the
edge — port-forwards to them are how a learner reaches the suite):

- an Istio `Sidecar` whose ingress listener for the workload's port has `defaultEndpoint:
  unix:///var/run/app/app.sock` — the sidecar delivers what arrives on the port to that socket;
- an `emptyDir` at /var/run/app mounted in the app container and, through the
  `sidecar.istio.io/userVolumeMount` annotation, in the injected `istio-proxy` container, and in no
  other container of the pod;
- `UVICORN_UDS=/var/run/app/app.sock` on the app container: uvicorn reads its options from `UVICORN_*`
  variables, and a socket wins over the image's `--host/--port` (so the same image, production or Tilt's
  `--reload` development target, serves on the socket only);
- exec probes that ask the app over the socket: kubelet's HTTP probes (and the sidecar agent they are
  rewritten to) can only reach a TCP port.

The same layout as the local mesh (devstack), where the apps' sockets are files only their user can use.
Ref: https://istio.io/latest/docs/reference/config/networking/sidecar/ (IstioIngressListener)
"""

from __future__ import annotations

import json
from typing import Any

from meshgen.output import dump_yaml
from meshgen.policy import Policy

NETWORKING_API = "networking.istio.io/v1"
#: The folder shared by the app and its sidecar, and the app's socket in it.
SOCKET_DIR = "/var/run/app"
APP_SOCKET = f"{SOCKET_DIR}/app.sock"
VOLUME = "app-socket"
#: GET a path on the app's socket; exit 0 on 200. The standard library only: it runs in the app's image,
#: once per probe period, and must start fast (no import of the app's packages).
PROBE_SCRIPT = (
    "import http.client,socket,sys;"
    "s=socket.socket(socket.AF_UNIX);s.settimeout(2);s.connect(sys.argv[1]);"
    "c=http.client.HTTPConnection('localhost');c.sock=s;c.request('GET',sys.argv[2]);"
    "sys.exit(c.getresponse().status!=200)"
)
#: The probes of k8s/base, each on the same path, now over the socket.
PROBES = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}


def socket_workloads(policy: Policy) -> list[str]:
    """The workloads whose app moves to a Unix socket: every one the edge never calls."""
    edge = set(policy.ingress_services())
    return [w for w in policy.workloads if w not in edge]


def probe_command(path: str, socket: str = APP_SOCKET) -> list[str]:
    """The exec probe: GET `path` on the app's socket."""
    return ["python", "-c", PROBE_SCRIPT, socket, path]


def sidecar(policy: Policy, workload: str, port: int) -> dict[str, Any]:
    """The workload's Sidecar: what arrives on its port goes to the app's socket; outbound as by default."""
    return {
        "apiVersion": NETWORKING_API,
        "kind": "Sidecar",
        "metadata": {"name": workload, "namespace": policy.namespace},
        "spec": {
            "workloadSelector": {"labels": {"app": workload}},
            "ingress": [
                {
                    "port": {"number": port, "protocol": "HTTP", "name": "http"},
                    "defaultEndpoint": f"unix://{APP_SOCKET}",
                }
            ],
            # Stated, not left out: what a sidecar reaches with no Sidecar resource at all (every service).
            "egress": [{"hosts": ["*/*"]}],
        },
    }


def deployment_patches(policy: Policy) -> list[dict[str, Any]]:
    """Kustomize patches for the Deployments of `socket_workloads`: the shared volume (pod and sidecar), the
    app's socket, and the probes over it. The app is the pod template's first container (k8s/base)."""
    selector = f"app in ({','.join(socket_workloads(policy))})"
    target = {"kind": "Deployment", "labelSelector": selector}
    mount = {"name": VOLUME, "mountPath": SOCKET_DIR}
    pod = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "any"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"sidecar.istio.io/userVolumeMount": json.dumps([mount])}},
                "spec": {"volumes": [{"name": VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]},
            }
        },
    }
    app = "/spec/template/spec/containers/0"
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": f"{app}/env", "value": [{"name": "UVICORN_UDS", "value": APP_SOCKET}]},
        {"op": "add", "path": f"{app}/volumeMounts/-", "value": mount},
    ]
    for probe, path in PROBES.items():
        ops += [
            {"op": "remove", "path": f"{app}/{probe}/httpGet"},
            {"op": "add", "path": f"{app}/{probe}/exec", "value": {"command": probe_command(path)}},
        ]
    return [
        {"target": target, "patch": dump_yaml([pod])},
        {"target": target, "patch": dump_yaml([ops])},
    ]
