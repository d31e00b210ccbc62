"""`cleanup-test`: deletes what a test migration created, found by its tags; running it twice deletes nothing."""

from __future__ import annotations

from prefect import flow

from flows.selection import resolve_wave, select_vms, side_by_side
from tasks.access import permissions
from tasks.test_migration import clean_up_test_migration
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.state import lifecycle
from vmshift.steps import MigrationStep


@flow(name="cleanup-test")
async def cleanup_test_migration(wave: Wave | str, vms: list[str] | None = None) -> dict:
    """Returns `{"wave", "vms": [{vm, outcome: cleaned | failed, deleted, error}]}`."""
    wave = await resolve_wave(wave)
    await permissions(MigrationStep.TEST_MIGRATION, select_vms(wave, vms), Appliance.from_env())

    def done(vm: WavePlanRow, deleted: tuple[str, ...]) -> dict:
        return outcome_row(vm.source_vm, "cleaned", deleted=list(deleted))
    return {"wave": wave.name, "vms": await side_by_side(select_vms(wave, vms), clean_up_test_migration, done,
                                                             asks=lifecycle.Step.CLEANUP_TEST)}
