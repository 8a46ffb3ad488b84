"""meshgen: one peer policy (mesh/policy.yaml), two enforcements.

- `meshgen.policy`: load and check the policy (`load_policy`, `PolicyError`).
- `meshgen.envoy`: the local Envoy sidecars' configs (`Layout`, `inbound_config`, `outbound_config`).
- `meshgen.istio`: the Istio Components for k8s/components/ (`components`).
- `meshgen.pki`: the development CA and workload certificates (`write_pki`).

Run it as `python -m meshgen` (see `meshgen.cli`).
"""
