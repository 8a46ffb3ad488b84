"""docs/reference/*.md are generated from the code (tests/docgen/reference.py); they must not drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

import authz
from authz import exceptions
from tests.docgen.reference import PAGES

REFERENCE = Path(__file__).parents[1] / "docs" / "reference"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_committed_page_is_what_the_code_renders(page: str) -> None:
    assert (REFERENCE / page).read_text() == PAGES[page](), f"docs/reference/{page} is stale: run `make docs`"


def test_every_authz_setting_is_in_the_settings_page() -> None:
    text = (REFERENCE / "settings.md").read_text()
    for name in authz.AuthzSettings.model_fields:
        assert f"| `AUTHZ_{name.upper()}` |" in text, name


def test_every_refusal_class_is_in_the_error_page() -> None:
    text = (REFERENCE / "errors.md").read_text()
    refusals = [c for c in vars(exceptions).values() if isinstance(c, type) and issubclass(c, exceptions.AuthzError)]
    assert len(refusals) > 20  # the walk really found the tree
    for cls in refusals:
        assert f"`{cls.__name__}` |" in text, cls.__name__
