"""docs/lifecycle.md is the lifecycle module, rendered: the two cannot drift apart unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vmshift.state import lifecycle

DOC = Path(__file__).parents[2] / "docs" / "lifecycle.md"


def test_docs_lifecycle_md_is_what_the_module_generates() -> None:
    generated = subprocess.run([sys.executable, "-m", "vmshift.state.lifecycle", "--markdown"], check=True,
                               capture_output=True, text=True).stdout

    assert DOC.read_text() == generated, (
        "docs/lifecycle.md differs from vmshift/state/lifecycle.py: run "
        "`python -m vmshift.state.lifecycle --markdown > docs/lifecycle.md`")


def test_the_diagram_draws_every_change_of_phase_the_table_allows_and_no_other() -> None:
    drawn = set()
    for line in DOC.read_text().splitlines():
        if " --> " in line and not line.strip().startswith("[*]"):
            arrow, _, steps = line.strip().partition(" : ")
            source, _, to = arrow.partition(" --> ")
            drawn |= {(source, step, to) for step in steps.split(", ")}

    assert drawn == {(_node(source), step.value, _node(to)) for source, step, to in lifecycle.edges() if source != to}


def _node(phase: lifecycle.Phase) -> str:
    return phase.value.replace("-", "_")
