"""A VM mapped to several NICs is told, row by row, that only one NIC is built: never dropped silently."""

from __future__ import annotations

from pathlib import Path

from vmshift.plan.validation import validate_plan

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_several_nic_mappings_warn_on_their_row_and_the_plan_still_runs() -> None:
    result = validate_plan(EXAMPLES / "waves.csv")
    assert result.ok
    [warning] = [w for w in result.warnings if w.column == "nics"]
    assert warning.row == 3 and "one NIC" in warning.message
    row = next(vm for wave in result.plan.waves for vm in wave.vms if vm.source_vm == "web-rhel-02")
    assert len(row.nics) == 2
