"""Run the shell blocks of a Markdown page, as written, and compare what each prints with what the page says.

A block is a fenced ```sh block. The lines `#   → text` in it are what the block prints, in order; a block
without them prints nothing. All blocks of a page run in one bash session (variables carry over), with
`IDP`, `GW`, `TODOS` pointed at the test's suite. Used by tests/e2e/test_doc_commands.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

EXPECT = re.compile(r"^#\s+→ ?(.*)$")
MARKER = "@@doc-block"


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    expect: str


def shell_blocks(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    inside, start, body = False, 0, list[str]()
    for number, line in enumerate(lines, 1):
        if not inside and line.strip() == "```sh":
            inside, start, body = True, number, []
        elif inside and line.strip() == "```":
            inside = False
            expect = [m.group(1) for text in body if (m := EXPECT.match(text.strip()))]
            blocks.append(Block(start, "\n".join(body), "\n".join(expect).strip()))
        elif inside:
            body.append(line)
    return blocks


def run_blocks(blocks: list[Block], env: dict[str, str], timeout: float = 120, cwd: Path | None = None) -> list[str]:
    """Each block's output, stripped, from one bash session (in `cwd`: the labs run `make` targets)."""
    for tool in ("bash", "curl", "jq", "python3"):
        assert shutil.which(tool), f"the page's commands need {tool}"
    script = "set -euo pipefail\n" + "".join(f"echo '{MARKER}'\n{block.code}\n" for block in blocks)
    done = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    chunks = done.stdout.split(f"{MARKER}\n")[1:]
    assert len(chunks) == len(blocks), done.stdout
    return [chunk.strip() for chunk in chunks]
