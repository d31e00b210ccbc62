"""The flow that runs each migration step, for tests that take a permission away and see the step's own flow fail
at its start (no flow reports success). Discovery has none: `plan validate` is its check."""

from __future__ import annotations

from collections.abc import Callable, Coroutine

from flows.complete_migration import complete_migration
from flows.cutover import cutover
from flows.migrate_wave import migrate_wave
from flows.rollback import rollback
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.migration.appliance import Appliance
from vmshift.plan.schema import Wave
from vmshift.steps import MigrationStep

STEP_FLOWS: dict[MigrationStep, Callable[[Wave, Appliance], Coroutine]] = {
    MigrationStep.REPLICATION: lambda wave, appliance: migrate_wave(wave, appliance, return_state=True),
    MigrationStep.TEST_MIGRATION: lambda wave, appliance: run_test_migrate(wave, appliance=appliance,
                                                                          return_state=True),
    MigrationStep.CUTOVER: lambda wave, appliance: cutover(wave, appliance=appliance, skip_test_migration=True,
                                                           return_state=True),
    MigrationStep.ROLLBACK: lambda wave, _: rollback(wave, return_state=True),  # they read it from the env
    MigrationStep.COMPLETION: lambda wave, _: complete_migration(wave, return_state=True),
}
