"""The pages of the workshop's breaks (docs/workshop/breaks/<id>.md): each names its lab, its kind, the check
that fails (a pytest node id) and the reason it fails with. Read by the breaks' own tests and by the labs' test
(tests/test_workshop.py), so that a lab and its break cannot name different checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BREAKS = ROOT / "docs" / "workshop" / "breaks"
INDEX = BREAKS / "README.md"
#: The fields of a break's page: `- **Check:** `<node id>``.
FIELD = re.compile(r"^- \*\*(Lab|Kind|Check|Reason):\*\* (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Break:
    id: str
    lab: str
    kind: str
    check: str
    reason: str

    @property
    def patch(self) -> Path:
        return BREAKS / f"{self.id}.patch"


def break_ids() -> list[str]:
    """Every break with a page in the folder: a new page is picked up without touching this file."""
    return sorted(page.stem for page in BREAKS.glob("*.md") if page != INDEX)


def code(text: str) -> str | None:
    """`text` without its backticks, if it is one code span."""
    match = re.fullmatch(r"`([^`]+)`", text.strip())
    return match.group(1) if match else None


def read_break(break_id: str) -> Break:
    page = BREAKS / f"{break_id}.md"
    fields = dict(FIELD.findall(page.read_text()))
    missing = [name for name in ("Lab", "Kind", "Check", "Reason") if name not in fields]
    assert not missing, f"{page.relative_to(ROOT)} lacks the field(s) {missing}"
    check, reason = code(fields["Check"]), code(fields["Reason"])
    assert check, f"{page.relative_to(ROOT)}: the check is not one `pytest node id`"
    assert reason, f"{page.relative_to(ROOT)}: the reason is not one `code span`"
    return Break(break_id, fields["Lab"], fields["Kind"].split(",")[0].strip(), check, reason)
