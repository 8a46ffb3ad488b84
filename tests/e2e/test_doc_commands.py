"""The commands of docs/jwt.md, run as written against the real suite: each shell block must print what the
page says it prints (its `→` lines). The page cannot drift from what the suite really answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.doc_shell import run_blocks, shell_blocks

DOCS = Path(__file__).parents[2] / "docs"


@pytest.mark.parametrize("suite", ["sqlite"], indirect=True)
def test_every_command_of_the_jwt_page_prints_what_the_page_says(suite: SuiteClient) -> None:
    blocks = shell_blocks(DOCS / "jwt.md")
    assert len(blocks) >= 8
    outputs = run_blocks(blocks, {"IDP": suite.identity_url, "GW": suite.gateway_url, "TODOS": suite.todos_url})
    assert [(b.line, out) for b, out in zip(blocks, outputs, strict=True)] == [(b.line, b.expect) for b in blocks]
