"""Cutover: the gates' facts, the cutover itself with its downtime, completion, and the way back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prefect import task

from tasks.lifecycle import run_actor
from tasks.progress import progress_artifact
from tasks.retry import TRANSIENT_RETRY
from vmshift.migration import cutover, verification
from vmshift.migration.appliance import Appliance
from vmshift.migration.cutover import CutoverDone
from vmshift.migration.readiness import CutoverFacts
from vmshift.migration.report import artifact_key
from vmshift.migration.verification import VerificationRun
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.vsphere.facts import VmFacts

# A VM's cutover, rollback and verification runs are named with these prefixes and the VM.
CUTOVER_RUN = "cutover-"
ROLLBACK_RUN = "rollback-"
VERIFY_RUN = "verify-cutover-"


@task(name="cutover-gate-facts", tags=["blob"], **TRANSIENT_RETRY)
async def cutover_facts(wave: Wave, vms: Sequence[WavePlanRow], appliance: Appliance) -> list[CutoverFacts]:
    """Each VM's replication state and lifecycle, as the gates read them."""
    return await asyncio.to_thread(cutover.gate_facts, wave, vms, appliance)


# Not retried as a whole: the source may be shut down already; the steps inside retry what is transient.
@task(name="cutover-vm", task_run_name=CUTOVER_RUN + "{vm.source_vm}", tags=["azure", "vcenter"])
async def cut_over(vm: WavePlanRow, facts: VmFacts, appliance: Appliance, shutdown_timeout_s: float) -> CutoverDone:
    """The outage: source shut down, final delta and its range check, managed disks and their frozen copies, VM in
    the target VNet."""
    return await asyncio.to_thread(cutover.cut_over_vm, vm, facts, appliance, shutdown_timeout_s, run_actor())


# Retried: a rerun resumes from the checkpoints in the state document, without reading again what was proven.
@task(name="verify-cutover", task_run_name=VERIFY_RUN + "{vm.source_vm}", tags=["azure", "blob"], **TRANSIENT_RETRY)
async def verify_cutover(vm: WavePlanRow) -> VerificationRun:
    """The migrated disks proven whole against the manifests, from their frozen copies, while the VM runs."""
    async with progress_artifact(artifact_key("verification", vm.source_vm),
                                 f"{vm.source_vm}: post-cutover verification of its disks") as on_progress:
        return await asyncio.to_thread(verification.verify_vm_cutover, vm, on_progress)


@task(name="complete-migration", task_run_name="complete-{vm.source_vm}", tags=["vcenter", "blob"],
      **TRANSIENT_RETRY)
async def complete(vm: WavePlanRow, delete_cache_blobs: bool) -> None:
    """No more cycles for the VM; source snapshots and CBT left clean; cache blobs kept or deleted."""
    await asyncio.to_thread(cutover.complete_vm, vm, delete_cache_blobs, run_actor())


@task(name="rollback-vm", task_run_name=ROLLBACK_RUN + "{vm.source_vm}", tags=["azure", "vcenter"],
      **TRANSIENT_RETRY)
async def roll_back(vm: WavePlanRow, delete_disks: bool) -> tuple[str, ...]:
    """Delete the target VM (and its NIC, disks when asked) and power the source on; replication resumes."""
    return await asyncio.to_thread(cutover.roll_back_vm, vm, delete_disks, run_actor())


@task(name="restart-source", task_run_name="restart-source-{vm.source_vm}", tags=["azure", "vcenter"],
      **TRANSIENT_RETRY)
async def restart_source_left_off(vm: WavePlanRow) -> bool:
    """After a refused or failed cutover: the source powered on again if an earlier cutover run shut it down
    and died before building the target VM. True when it was."""
    return await asyncio.to_thread(cutover.restart_vm_source_left_off, vm, run_actor())

