"""`complete-migration`: after a good cutover, replication stops and the source is left clean.

Refused for a VM whose migrated disks were not proven equal to the source after its cutover (the verification
failed, or has not finished): completing would end the replication that a rollback and a new cutover need.
"""

from __future__ import annotations

from prefect import flow

from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.access import permissions
from tasks.cutover import complete
from vmshift.migration.appliance import Appliance
from vmshift.migration.cutover import CompletionRefused
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.state import lifecycle
from vmshift.steps import MigrationStep


@flow(name="complete-migration")
async def complete_migration(wave: Wave | str, vms: list[str] | None = None, delete_cache_blobs: bool = False) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: completed | refused | failed, error}]}`."""
    wave = await resolve_wave(wave)
    await permissions(MigrationStep.COMPLETION, select_vms(wave, vms), Appliance.from_env())

    async def one(vm: WavePlanRow) -> dict:
        try:
            await complete(vm, delete_cache_blobs)
        except CompletionRefused as refused:
            return outcome_row(vm.source_vm, "refused", error=str(refused))
        return outcome_row(vm.source_vm, "completed")

    def done(_: WavePlanRow, row: dict) -> dict:
        return row
    rows = await side_by_side(select_vms(wave, vms), one, done, asks=lifecycle.Step.COMPLETE)
    return {"wave": wave.name, "vms": rows}
