"""`rollback`: the target VM deleted and the source powered on again; replication resumes where it was."""

from __future__ import annotations

from prefect import flow

from flows.report import outcome_row
from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.cutover import roll_back
from vmshift.plan.schema import Wave, WavePlanRow


@flow(name="rollback")
async def rollback(wave: Wave | str, vms: list[str] | None = None, delete_disks: bool = False) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: rolled-back | failed, deleted, error}]}`."""
    wave = await resolve_wave(wave)
    chosen = select_vms(wave, vms)

    async def one(vm: WavePlanRow) -> tuple[str, ...]:
        return await roll_back(vm, delete_disks)

    def done(vm: WavePlanRow, deleted: tuple[str, ...]) -> dict:
        return outcome_row(vm.source_vm, "rolled-back", deleted=list(deleted))
    return {"wave": wave.name, "vms": await side_by_side(chosen, one, done)}
