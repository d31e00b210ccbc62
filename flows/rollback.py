"""`rollback`: the target VM deleted and the source powered on again; replication resumes where it was."""

from __future__ import annotations

from prefect import flow

from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.access import permissions
from tasks.cutover import roll_back
from vmshift.azure.errors import RollbackRefused
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.state import lifecycle
from vmshift.steps import MigrationStep


@flow(name="rollback")
async def rollback(wave: Wave | str, vms: list[str] | None = None, delete_disks: bool = False) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: rolled-back | refused | failed, deleted, error}]}`.

    Refused: the VM was never cut over, or its migration was completed, so there is no replication to go back to.
    """
    wave = await resolve_wave(wave)
    chosen = select_vms(wave, vms)
    await permissions(MigrationStep.ROLLBACK, chosen, Appliance.from_env())

    async def one(vm: WavePlanRow) -> dict:
        try:
            deleted = await roll_back(vm, delete_disks)
        except RollbackRefused as refused:
            return outcome_row(vm.source_vm, "refused", error=str(refused))
        return outcome_row(vm.source_vm, "rolled-back", deleted=list(deleted))

    def done(_: WavePlanRow, row: dict) -> dict:
        return row
    return {"wave": wave.name, "vms": await side_by_side(chosen, one, done, asks=lifecycle.Step.ROLLBACK)}
