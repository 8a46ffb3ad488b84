"""`python -m meshgen`: the peer policy -> Istio components and NetworkPolicies (committed) + local sidecars and PKI.

python -m meshgen              # both, from the repository root
python -m meshgen k8s          # k8s/components/mesh{,-jwt}/ and k8s/base/network-policies/ only
python -m meshgen k8s --check  # exit 1 if those differ from what the policy generates
python -m meshgen local        # .run/mesh/: pki/ (a new CA and certificates), envoy/, layout.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from meshgen import envoy, istio, netpol
from meshgen.output import GENERATED, comment
from meshgen.pki import write_pki
from meshgen.policy import Policy, PolicyError, load_policy

DEFAULT_POLICY = Path("mesh/policy.yaml")
DEFAULT_K8S_DIR = Path("k8s/components")
DEFAULT_NETPOL_DIR = Path("k8s/base/network-policies")


def _write_folder(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write `files`; a generated file the policy no longer produces is removed, anything else kept."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        if old.name not in files and old.read_text().startswith(comment(GENERATED)):
            old.unlink()
    for name, text in files.items():
        (directory / name).write_text(text)
    return [directory / name for name in files]


def _stale_folder(directory: Path, files: dict[str, str]) -> list[str]:
    problems = []
    for name, text in files.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text() != text:
            problems.append(f"{path}: differs from what the policy generates")
    if directory.exists():
        problems += [f"{p}: not generated from the policy" for p in directory.glob("*.yaml") if p.name not in files]
    return problems


def write_components(policy: Policy, k8s_dir: Path, options: istio.IstioOptions) -> list[Path]:
    """Write both components; a generated file the policy no longer produces is removed."""
    written = []
    for folder, files in istio.components(policy, options).items():
        written += _write_folder(k8s_dir / folder, files)
    return written


def stale_components(policy: Policy, k8s_dir: Path, options: istio.IstioOptions) -> list[str]:
    """What differs between the committed components and the policy's: missing, changed or extra files."""
    problems = []
    for folder, files in istio.components(policy, options).items():
        problems += _stale_folder(k8s_dir / folder, files)
    return problems


def write_network_policies(policy: Policy, netpol_dir: Path) -> list[Path]:
    """Write the NetworkPolicies and their kustomization.yaml (meshgen.netpol)."""
    return _write_folder(netpol_dir, netpol.network_policies(policy))


def stale_network_policies(policy: Policy, netpol_dir: Path) -> list[str]:
    return _stale_folder(netpol_dir, netpol.network_policies(policy))


def write_local(
    policy: Policy, run_dir: Path, ingress_ports: Mapping[str, int] = envoy.DEFAULT_INGRESS_PORTS
) -> envoy.Layout:
    """A new PKI, the Envoy configs and `layout.json` (the sockets and ports) under `run_dir`.

    devstack (`make up MESH=1`) calls this at every start, with its run's public ports."""
    layout = envoy.default_layout(policy, run_dir, ingress_ports=ingress_ports)
    write_pki(layout.pki.directory, [(w, policy.spiffe_id(w)) for w in policy.workloads])
    prepare_sockets_dir(layout)
    envoy.write_envoy_configs(policy, layout, run_dir.absolute() / "envoy", comment(GENERATED))
    summary = {
        "pki": str(layout.pki.directory),
        "sockets": {w: str(p) for w, p in layout.sockets.items()},
        "inbound": {w: str(p) for w, p in layout.inbound.items()},
        "probe": {w: str(p) for w, p in layout.probe.items()},
        "ingress": dict(layout.ingress),
        "outbound": {f"{c}->{d}": str(p) for (c, d), p in layout.outbound.items()},
        "admin": {name: str(p) for name, p in layout.admin.items()},
    }
    (run_dir / "layout.json").write_text(json.dumps(summary, indent=2) + "\n")
    return layout


def prepare_sockets_dir(layout: envoy.Layout) -> None:
    """The folder of the sockets, mode 0700 (set again if it existed: an older run may have left it
    wider), emptied of stale sockets (a socket file left by a killed run would block the next bind)."""
    folders = {path.parent for path in layout.all_sockets()}
    for folder in folders:
        folder.mkdir(mode=envoy.SOCKETS_DIR_MODE, parents=True, exist_ok=True)
        folder.chmod(envoy.SOCKETS_DIR_MODE)
    for path in layout.all_sockets():
        path.unlink(missing_ok=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m meshgen", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("all", "k8s", "local"), default="all")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="the peer policy (%(default)s)")
    parser.add_argument("--check", action="store_true", help="k8s: only compare, exit 1 if stale")
    k8s = parser.add_argument_group("Istio manifests")
    k8s.add_argument("--k8s-dir", type=Path, default=DEFAULT_K8S_DIR, help="components folder (%(default)s)")
    k8s.add_argument("--ingress-principal", default=istio.DEFAULT_INGRESS_PRINCIPAL, help="the edge (%(default)s)")
    k8s.add_argument("--issuer", default=istio.DEFAULT_ISSUER, help="identity's `iss` (%(default)s)")
    k8s.add_argument("--jwks-uri", default=istio.DEFAULT_JWKS_URI, help="identity's JWKS in the cluster (%(default)s)")
    k8s.add_argument("--netpol-dir", type=Path, default=DEFAULT_NETPOL_DIR, help="NetworkPolicies folder (%(default)s)")
    local = parser.add_argument_group("local sidecars")
    local.add_argument("--out", type=Path, default=envoy.DEFAULT_RUN_DIR, help="output folder (%(default)s)")
    return parser


def _check(policy: Policy, k8s_dir: Path, netpol_dir: Path, options: istio.IstioOptions) -> int:
    problems = stale_components(policy, k8s_dir, options) + stale_network_policies(policy, netpol_dir)
    for problem in problems:
        print(f"meshgen: {problem}", file=sys.stderr)
    if problems:
        print("meshgen: run `python -m meshgen k8s` and commit the result", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        policy = load_policy(args.policy)
    except PolicyError as e:
        print(f"meshgen: {e}", file=sys.stderr)
        return 2
    options = istio.IstioOptions(ingress_principal=args.ingress_principal, issuer=args.issuer, jwks_uri=args.jwks_uri)
    try:
        if args.check:
            return _check(policy, args.k8s_dir, args.netpol_dir, options)
        if args.command in ("all", "k8s"):
            written = write_components(policy, args.k8s_dir, options)
            print(f"Istio components: {len(written)} files in {args.k8s_dir}/mesh and {args.k8s_dir}/mesh-jwt")
            written = write_network_policies(policy, args.netpol_dir)
            print(f"NetworkPolicies: {len(written)} files in {args.netpol_dir}")
    except PolicyError as e:
        print(f"meshgen: {e}", file=sys.stderr)
        return 2
    if args.command in ("all", "local"):
        layout = write_local(policy, args.out)
        print(f"local mesh: a new CA and {len(policy.workloads)} certificates in {layout.pki.directory}")
        print(f"local mesh: Envoy configs in {args.out.absolute() / 'envoy'}, sockets in {args.out / 'layout.json'}")
    return 0
