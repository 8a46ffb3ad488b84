"""Every kustomization.yaml under k8s/: modern fields only, thin overlays, a README per component."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.k8s.conftest import MODES, OVERLAYS
from tests.k8s.tools import REPO

K8S = REPO / "k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))

#: Deprecated in kustomize v5 (or long gone): `kustomize edit fix` rewrites them.
#: Ref: https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/ (each field's page says so)
DEPRECATED = {"commonLabels", "patchesStrategicMerge", "patchesJson6902", "vars", "bases", "imageTags"}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: str(p.parent.relative_to(K8S)))
def test_no_deprecated_fields(path: Path) -> None:
    doc = _load(path)
    assert not DEPRECATED & set(doc), f"{path}: {DEPRECATED & set(doc)}"
    assert doc["apiVersion"] in ("kustomize.config.k8s.io/v1beta1", "kustomize.config.k8s.io/v1alpha1")
    assert doc["kind"] == ("Component" if "components" in path.relative_to(K8S).parts else "Kustomization")
    for label in doc.get("labels", []):
        assert "includeSelectors" in label, f"{path}: say whether labels go into selectors"


def test_the_overlays_are_the_ten_and_thin() -> None:
    found = sorted(str(p.parent.relative_to(K8S / "overlays")) for p in (K8S / "overlays").rglob("kustomization.yaml"))
    assert found == sorted(OVERLAYS)
    for overlay in OVERLAYS:
        doc = _load(K8S / "overlays" / overlay / "kustomization.yaml")
        mode, mesh = overlay.split("/")[0], overlay.endswith("/mesh")
        base = "../../../base" if mesh else "../../base"
        assert doc["resources"] == [base], overlay
        components = [c.rsplit("components/", 1)[1] for c in doc["components"]]
        expected = [f"modes/{mode}"]
        if mesh:
            expected += ["mesh", *(["mesh-jwt"] if mode in ("passthrough", "phantom") else []), "istio-platform"]
        assert components == expected, overlay
        # Anything else only in trust without the mesh: its explicit opt-in to the insecure demo.
        rest = set(doc) - {"apiVersion", "kind", "resources", "components"}
        assert rest == ({"configMapGenerator"} if overlay == "trust" else set()), overlay


def test_each_mode_component_sets_its_mode_by_merging() -> None:
    for mode in MODES:
        doc = _load(K8S / "components" / "modes" / mode / "kustomization.yaml")
        (authz,) = [g for g in doc["configMapGenerator"] if g["name"] == "authz-config"]
        assert authz["behavior"] == "merge"
        assert f"AUTHZ_MODE={mode}" in authz["literals"]
        for generator in doc.get("configMapGenerator", []) + doc.get("secretGenerator", []):
            assert generator["behavior"] == "merge", f"{mode}: {generator['name']} would replace the base's"


def test_every_component_has_a_readme() -> None:
    for folder in sorted(p for p in (K8S / "components").iterdir() if p.is_dir()):
        assert (folder / "README.md").is_file(), folder


def test_development_secrets_say_so() -> None:
    files = sorted(K8S.rglob("dev-secrets/*.env"))
    assert len(files) >= 6
    for path in files:
        assert path.read_text().startswith("# DEVELOPMENT ONLY — replace for any real deployment."), path


@pytest.mark.parametrize("doc", ["k8s/README.md", "docs/kubernetes.md"])
def test_the_overlay_tables_in_the_docs_say_what_the_overlays_do(doc: str) -> None:
    rows = {}
    for line in (REPO / doc).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and "overlays/" in cells[0]:
            rows[cells[0].strip("`").split("overlays/", 1)[1]] = cells
    assert sorted(rows) == sorted(OVERLAYS)
    for overlay, (_, mode, mesh, components) in rows.items():
        kustomization = _load(K8S / "overlays" / overlay / "kustomization.yaml")
        assert mode == overlay.split("/")[0]
        assert mesh.startswith("yes" if overlay.endswith("/mesh") else "no"), overlay
        named = [c.rsplit("components/", 1)[1] for c in kustomization["components"]]
        assert [c.strip() for c in components.split(",")] == named, overlay
