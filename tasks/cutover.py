"""Cutover: the gates' facts, the cutover itself with its downtime, completion, and the way back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName, TaskRunFilterState, TaskRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import TaskRunSort

from flows.appliance import Appliance
from tasks.delta import state_store
from tasks.retry import TRANSIENT_RETRY
from tasks.test_migration import TEST_MIGRATION_RUN, target_spec
from vmshift.azure import cutover as azure_cutover
from vmshift.azure.clients import connect
from vmshift.azure.cutover import SOURCE_POWERED_ON
from vmshift.azure.naming import target_vm_name
from vmshift.azure.source import VSphereSourceVm
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.readiness import CutoverFacts, VmFacts
from vmshift.replication.cycle import ReplicationSettings
from vmshift.vsphere.connection import VCenterConfig
from vmshift.vsphere.connection import connect as connect_vcenter

# Cutovers and rollbacks (and test migrations) are recorded as task runs named with these prefixes and the VM.
CUTOVER_RUN = "cutover-"
ROLLBACK_RUN = "rollback-"


class CutoverFailed(RuntimeError):
    """The cutover stopped before the target VM existed; the message says whether the source runs again."""


RUNS_PAGE = 200  # Prefect's default page of runs
UNHEALTHY_PHASES = frozenset({"failed", "stopped"})  # a cycle failed, or was stopped on request and not resumed


@dataclass(frozen=True)
class CutoverDone:
    vm: str
    target_vm_id: str
    resources: tuple[str, ...]
    verifications: tuple[tuple[int, bool, int], ...]  # disk key, equal, bytes compared
    downtime_s: float


@task(name="cutover-gate-facts", tags=["blob"], **TRANSIENT_RETRY)
async def cutover_facts(wave: Wave, vms: Sequence[WavePlanRow], appliance: Appliance) -> list[CutoverFacts]:
    """Each VM's replication state and test-migration record, as the gates read them."""
    names = {vm.source_vm for vm in vms}
    ended = await _completed_runs((TEST_MIGRATION_RUN, CUTOVER_RUN, ROLLBACK_RUN), names)
    tested, cut, rolled = ended[TEST_MIGRATION_RUN], ended[CUTOVER_RUN], ended[ROLLBACK_RUN]
    # Cut over now: the last cutover is more recent than the last rollback.
    cut_over_now = {vm for vm, at in cut.items() if vm not in rolled or rolled[vm] < at}
    facts = []
    for vm in vms:
        state = (await asyncio.to_thread(state_store(vm.cache_storage_account).load, vm.source_vm)).state
        window = vm.cutover_window or wave.cutover_window
        facts.append(CutoverFacts(
            vm=vm.source_vm,
            last_delta_end=state.last_cycle.finished_at if state.last_cycle else None,
            replication_error=state.error if state.phase in UNHEALTHY_PHASES else None,
            test_migrated=vm.source_vm in tested,
            application_group=vm.application_group,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            cutover_at=vm.cutover_at,
            allow_cutover=vm.allow_cutover,
            appliance=appliance.name,
            already_cut_over=vm.source_vm in cut_over_now,
        ))
    return facts


# Not retried as a whole: the source may be shut down already; the steps inside retry what is transient.
@task(name="cutover-vm", task_run_name=CUTOVER_RUN + "{vm.source_vm}", tags=["azure", "vcenter"])
async def cut_over(vm: WavePlanRow, facts: VmFacts, appliance: Appliance, shutdown_timeout_s: float) -> CutoverDone:
    """Shut the source down, final delta, managed disks, VM in the target VNet, disks verified byte for byte."""
    def run() -> CutoverDone:
        clients = connect()
        spec = target_spec(vm, facts, appliance, clients.config.subscription_id)
        source = _source(vm)
        started = time.monotonic()  # the source goes down first: downtime runs from here to the VM created
        try:
            result = azure_cutover.cutover(clients, spec, source,
                                           azure_cutover.CutoverOptions(shutdown_timeout_s=shutdown_timeout_s,
                                                                        leave_source_running=not vm.turn_off_source),
                                           _shutdown_record(vm))
        except Exception as error:
            again = f" and {SOURCE_POWERED_ON}" if SOURCE_POWERED_ON in getattr(error, "__notes__", ()) else ""
            raise CutoverFailed(f"cutover of {vm.source_vm} failed{again}; replication goes on from the last "
                                f"cycle: {type(error).__name__}: {error}") from error
        built = result.built
        return CutoverDone(vm.source_vm, built.vm_id, (built.vm_id, built.nic_id, *built.disk_ids),
                           tuple((v.key, v.equal, v.bytes_compared) for v in result.verifications),
                           time.monotonic() - started)
    return await asyncio.to_thread(run)


@task(name="complete-migration", task_run_name="complete-{vm.source_vm}", tags=["vcenter", "blob"],
      **TRANSIENT_RETRY)
async def complete(vm: WavePlanRow, delete_cache_blobs: bool) -> None:
    """No more cycles for the VM; source snapshots and CBT left clean; cache blobs kept or deleted."""
    await asyncio.to_thread(azure_cutover.complete_migration, _source(vm), delete_cache_blobs=delete_cache_blobs)


@task(name="rollback-vm", task_run_name=ROLLBACK_RUN + "{vm.source_vm}", tags=["azure", "vcenter"],
      **TRANSIENT_RETRY)
async def roll_back(vm: WavePlanRow, delete_disks: bool) -> tuple[str, ...]:
    """Delete the target VM (and its NIC, disks when asked) and power the source on; replication resumes."""
    def run() -> tuple[str, ...]:
        return azure_cutover.rollback_cutover(connect(), _source(vm), resource_group=vm.resource_group,
                                              vm_name=_target_name(vm), delete_disks=delete_disks,
                                              record=_shutdown_record(vm))
    return await asyncio.to_thread(run)


@task(name="restart-source", task_run_name="restart-source-{vm.source_vm}", tags=["azure", "vcenter"],
      **TRANSIENT_RETRY)
async def restart_source_left_off(vm: WavePlanRow) -> bool:
    """After a refused or failed cutover: the source powered on again if an earlier cutover run shut it down
    and died before building the target VM. True when it was."""
    def run() -> bool:
        record = _shutdown_record(vm)
        if not record.is_set():  # the usual case: no need to reach vCenter or ARM
            return False
        return azure_cutover.restart_source_left_off(connect(), _source(vm), record,
                                                     resource_group=vm.resource_group, vm_name=_target_name(vm))
    return await asyncio.to_thread(run)


def _target_name(vm: WavePlanRow) -> str:
    return target_vm_name(vm.source_vm, vm.target_vm_name, (vm.os_type or "linux").capitalize())


def _shutdown_record(vm: WavePlanRow) -> azure_cutover.StateShutdownRecord:
    return azure_cutover.StateShutdownRecord(state_store(vm.cache_storage_account), vm.source_vm)


def _source(vm: WavePlanRow) -> VSphereSourceVm:
    return VSphereSourceVm(connect_vcenter(VCenterConfig.from_env()), vm.source_vm,
                           ReplicationSettings(vm.cache_storage_account))


async def _completed_runs(prefixes: Sequence[str], vms: set[str]) -> dict[str, dict[str, datetime]]:
    """Per prefix, VM → when its last completed task run named prefix + VM ended: Prefect is the record.
    One query for all of them."""
    names = {prefix + vm: (prefix, vm) for prefix in prefixes for vm in vms}
    completed = TaskRunFilter(name=TaskRunFilterName(any_=sorted(names)),
                              state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED])))
    runs: list = []
    async with get_client() as client:
        while True:  # page by page: the server answers at most a page, and a wide wave has more runs
            page = await client.read_task_runs(task_run_filter=completed, sort=TaskRunSort.END_TIME_DESC,
                                               limit=RUNS_PAGE, offset=len(runs))
            runs += page
            if len(page) < RUNS_PAGE:
                break
    ended: dict[str, dict[str, datetime]] = {prefix: {} for prefix in prefixes}
    for run in runs:
        (prefix, vm), end = names[run.name], run.end_time or run.expected_start_time
        if end is not None and (vm not in ended[prefix] or end > ended[prefix][vm]):
            ended[prefix][vm] = end
    return ended
