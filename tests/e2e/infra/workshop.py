"""The workshop's labs (docs/workshop/NN-slug.md) read as the tests need them.

A lab's fenced blocks say by their info string who runs them:

    ```sh           run by tests/e2e/test_workshop_labs.py against a suite, its `#   → …` lines compared
    ```sh browser   needs a person at a browser (`make login`, the web UI): the browser tests cover it
    ```sh check     a break's check (pytest …): tests/workshop/test_breaks.py runs it, break applied and not
    ```sh cluster   needs a Kubernetes cluster (kubectl against it, tilt): not run by any test
    ```sh doctor    the index's room preparation (make doctor, reset, offline-cache): unit-tested instead

The `sh` block that sets `IDP=${IDP:-…}` is the lab's prelude (where the suite is, `${GW:-…}` and friends,
and its helpers); it runs before every segment. A `sh` block holding only `make reset` / `make up …` lines
starts a segment: the blocks after it run against a suite in that mode (`MESH=1`: with the local mesh), which
the test provides instead of running `make up`. A *cluster* lab has no `make up`: its `sh` blocks render
manifests locally and run without a suite (tests/test_workshop.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.infra.doc_shell import Block, shell_blocks

WORKSHOP = Path(__file__).parents[3] / "docs" / "workshop"
#: The info strings a lab's shell blocks may carry (anything else shell-like is refused by the tests).
KINDS = ("sh", "sh browser", "sh check", "sh cluster", "sh doctor")
FENCE = re.compile(r"^```(\S.*)?$")
PRELUDE_MARK = "IDP=${IDP:-"
START = re.compile(r"^make (reset|up)\b(.*)$")
#: Programs that need a cluster: only in `sh cluster` blocks (`kubectl kustomize` renders locally and may run).
CLUSTER_ONLY = re.compile(r"\b(tilt\b|kubectl (?!kustomize\b))")


@dataclass(frozen=True)
class Suite:
    """What a segment runs against: `make up MODE=<mode>` (`MESH=1`: the local mesh)."""

    mode: str
    mesh: bool = False


@dataclass
class Segment:
    #: None: a *cluster* lab's local steps (rendering manifests), which need no running suite.
    suite: Suite | None
    line: int
    blocks: list[Block] = field(default_factory=list)

    @property
    def code(self) -> str:
        return "\n".join(block.code for block in self.blocks)


@dataclass
class Lab:
    path: Path
    text: str
    prelude: Block | None
    segments: list[Segment]
    #: (info string, first line, code) of every fenced block, whatever its kind.
    fences: list[tuple[str, int, str]]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def minutes(self) -> int:
        found = re.search(r"(\d+) minutes", "\n".join(self.text.splitlines()[:6]))
        assert found, f"{self.name}: no '<N> minutes' near the top"
        return int(found.group(1))

    @property
    def cluster(self) -> bool:
        return "*cluster*" in "\n".join(self.text.splitlines()[:6])

    def section(self, heading: str) -> str:
        """The text under `## <heading>` up to the next `## `."""
        found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", self.text, flags=re.M | re.S)
        return found.group(1) if found else ""


def fences(text: str) -> list[tuple[str, int, str]]:
    found, inside, info, start, body = [], False, "", 0, list[str]()
    for number, line in enumerate(text.splitlines(), 1):
        if not inside and (m := FENCE.match(line.strip())):
            inside, info, start, body = True, (m.group(1) or "").strip(), number, []
        elif inside and line.strip() == "```":
            inside = False
            found.append((info, start, "\n".join(body)))
        elif inside:
            body.append(line)
    return found


def commands(code: str) -> list[str]:
    """The lines of a block that do something (no blank lines, no comments)."""
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


def start_of(block: Block) -> Suite | None:
    """The suite a `make reset` / `make up …` block asks for, or None for any other block."""
    lines = commands(block.code)
    if not lines or not all(START.match(line) for line in lines):
        return None
    ups = [line for line in lines if line.startswith("make up")]
    assert len(ups) == 1, f"line {block.line}: one `make up` per starting block"
    args = dict(re.findall(r"\b([A-Z]+)=(\S+)", ups[0]))
    unknown = set(args) - {"MODE", "MESH"}
    assert not unknown, f"line {block.line}: the labs' tests run no suite with {sorted(unknown)}"
    return Suite(args.get("MODE", "passthrough"), args.get("MESH", "0") not in ("0", "false"))


def read_lab(path: Path) -> Lab:
    text = path.read_text()
    blocks = shell_blocks(path)
    prelude = next((block for block in blocks if PRELUDE_MARK in block.code), None)
    segments: list[Segment] = []
    for block in (block for block in blocks if block is not prelude):
        suite = start_of(block)
        if suite is not None:
            segments.append(Segment(suite, block.line))
        else:
            if not segments:
                # Only a *cluster* lab has local steps that need no suite: a lab's others follow a `make up`.
                assert "*cluster*" in text[:400], f"{path.name}:{block.line}: a command before any `make up`"
                segments.append(Segment(None, block.line))
            segments[-1].blocks.append(block)
    return Lab(path, text, prelude, segments, fences(text))


def labs() -> list[Lab]:
    return [read_lab(path) for path in sorted(WORKSHOP.glob("[0-9][0-9]-*.md"))]


#: The e2e fixtures' parameters (tests/e2e/conftest.py) a segment can run on; a lab asking for another
#: combination fails the tests.
WEB_MODES = ("passthrough", "phantom")
TRACED = {"passthrough": "local-receiver"}


def fixture_of(segment: Segment) -> tuple[str, str]:
    """(fixture, its parameter) a segment runs on: the mesh suite with MESH=1; else the traced suite if it
    reads traces, the web suite if it opens the web UI's URLs, and the mode's plain suite otherwise.
    ("", "") for a cluster lab's local steps, which tests/test_workshop.py runs without a suite."""
    if segment.suite is None:
        return "", ""
    mode = segment.suite.mode
    if segment.suite.mesh:
        return "mesh_suite", mode
    if "$TRACES" in segment.code:
        assert mode in TRACED, f"line {segment.line}: the tests run no traced suite in {mode}"
        return "traced_suite", TRACED[mode]
    if "$WEB" in segment.code:
        assert mode in WEB_MODES, f"line {segment.line}: the tests run no web suite in {mode}"
        return "web_suite", mode
    return "moded_suite", mode
