"""Test migration: the VM built from a recovery point (the latest by default) into the plan's test VNet, and its
clean-up."""

from __future__ import annotations

import asyncio

from prefect import task

from tasks.lifecycle import run_actor
from tasks.retry import TRANSIENT_RETRY
from vmshift.migration import target
from vmshift.migration.appliance import Appliance
from vmshift.migration.target import BuiltTestVm
from vmshift.plan.recovery_point import RecoveryPointChoice
from vmshift.plan.schema import WavePlanRow
from vmshift.vsphere.facts import VmFacts

TEST_MIGRATION_RUN = "test-migration-"  # + the VM


@task(name="test-migration", task_run_name=TEST_MIGRATION_RUN + "{vm.source_vm}", tags=["azure"], **TRANSIENT_RETRY)
async def run_test_migration(vm: WavePlanRow, facts: VmFacts, appliance: Appliance,
                             recovery_point: RecoveryPointChoice = target.LATEST) -> BuiltTestVm:
    """The test VM in the test VNet, named `<target>-test` and tagged as a test, its OS disk prepared, and what
    reading it back showed; a test VM not as planned fails the task (and so counts for no cutover gate)."""
    return await asyncio.to_thread(target.build_test_vm, vm, facts, appliance, run_actor(), recovery_point)


@task(name="cleanup-test-migration", tags=["azure"], **TRANSIENT_RETRY)
async def clean_up_test_migration(vm: WavePlanRow) -> tuple[str, ...]:
    """Deletes exactly the resources tagged as this VM's test migration; a second run deletes nothing."""
    return await asyncio.to_thread(target.clean_up_test_vm, vm, run_actor())
