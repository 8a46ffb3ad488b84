"""Every mode's lab in docs/boundary-modes.md, run as written against the real suite in that mode.

The lab is shell (tests/e2e/infra/mode_labs.py): the test runs the prelude and every step in one bash
session, pointed at this suite's ports, and checks each step's output against what the doc says it prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.e2e.infra.client import SuiteClient
from tests.e2e.infra.matrix import PHANTOM_CACHE_SECONDS
from tests.e2e.infra.mode_labs import LABS, lab_script

MARKER = "@@lab-step"


def run_steps(script: str, env: dict[str, str], steps: int) -> list[str]:
    """Run `script` in bash; the output of each of `steps` steps, stripped."""
    for tool in ("bash", "curl", "jq", "python3"):
        assert shutil.which(tool), f"the labs need {tool}"
    done = subprocess.run(
        ["bash", "-c", script], env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    chunks = done.stdout.split(f"{MARKER} ")[1:]
    assert len(chunks) == steps, done.stdout
    return [chunk.split("\n", 1)[1].strip() if "\n" in chunk else "" for chunk in chunks]


def test_the_mode_lab_prints_what_the_doc_says(moded_suite: SuiteClient) -> None:
    lab = LABS[moded_suite.mode]
    env = {
        "IDP": moded_suite.identity_url,
        "GW": moded_suite.gateway_url,
        "TODOS": moded_suite.todos_url,
        # The e2e suites run phantom with a short cache bound; the doc's default is 30 s.
        "BOUND": str(PHANTOM_CACHE_SECONDS + 0.5),
    }
    outputs = run_steps(lab_script(lab.steps, MARKER), env, len(lab.steps))
    for step, output in zip(lab.steps, outputs, strict=True):
        assert output == step.expect, (step.say, output)
