"""docs/boundary-modes.md is generated from the attack matrix's expectations; it must not drift from them."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.infra.matrix import ACCEPTED, ATTACKS, built_modes
from tests.e2e.infra.render_modes import render

DOC = Path(__file__).parents[1] / "docs" / "boundary-modes.md"


def test_the_doc_is_what_the_expectations_render() -> None:
    assert DOC.read_text() == render(), "docs/boundary-modes.md is stale: run `make docs`"


def test_every_built_mode_has_an_expectation_for_every_attack() -> None:
    for attack in ATTACKS:
        assert set(attack.expect) == set(built_modes()), attack.id


def test_the_doc_names_each_accepted_attack_in_its_mode_row() -> None:
    text = DOC.read_text()
    for attack in ATTACKS:
        for mode, (outcome, _) in attack.expect.items():
            row = next(line for line in text.splitlines() if line.startswith(f"| `{mode}` |"))
            assert (attack.title in row) == (outcome == ACCEPTED), (mode, attack.id)
