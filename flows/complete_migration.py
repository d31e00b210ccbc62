"""`complete-migration`: after a good cutover, replication stops and the source is left clean."""

from __future__ import annotations

from prefect import flow

from flows.report import outcome_row
from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.cutover import complete
from vmshift.plan.schema import Wave, WavePlanRow


@flow(name="complete-migration")
async def complete_migration(wave: Wave | str, vms: list[str] | None = None, delete_cache_blobs: bool = False) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: completed | failed, error}]}`."""
    wave = await resolve_wave(wave)
    async def one(vm: WavePlanRow) -> None:
        await complete(vm, delete_cache_blobs)

    def done(vm: WavePlanRow, _: None) -> dict:
        return outcome_row(vm.source_vm, "completed")
    return {"wave": wave.name, "vms": await side_by_side(select_vms(wave, vms), one, done)}
