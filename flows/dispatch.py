"""VMs' runs on the appliances: each VM's run (a wave's `replicate-vm`, a delta-sync pass's `delta-cycle`)
Scheduled in its vCenter's work queue, where an appliance of that vCenter (flows/appliance.py) takes it, or in the
queue of the appliance its plan row names; the calling flow only reads their states until all are final.

`run_deployment` rather than a deployment per appliance: a run in a vCenter's queue belongs to no appliance, so
another one of that vCenter takes it when its first appliance is lost (docs/scale-out.md, "Dispatch").
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType, WorkQueueStatus
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from pydantic import TypeAdapter

from flows.stop import REPLICATE_RUN, runs_by_id
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import WavePlanRow
from vmshift.vsphere.facts import VmFacts

POOL = "vmshift-appliances"
REPLICATE_DEPLOYMENT = "replicate-vm/replicate-vm"
DELTA_DEPLOYMENT = "delta-cycle/delta-cycle"
# Only the dispatched runs carry it: the lost-appliance automations must never touch another flow's runs.
APPLIANCE_TAG = "vmshift-appliance"
POLL_S = 3.0
# Each dispatch is 4 API calls one after the other (run_deployment: the deployment, its flow, the parent's task
# run, the flow run); one VM at a time, a wave's dispatch took ~0.6-1 s a VM on a busy server (docs/scale-out.md).
DISPATCH_AT_ONCE = 8
# The rerun automation schedules a Crashed run again within a second (bench/lost_appliance.py: 0.5 s); one
# still Crashed after this was not rerun, and is the VM's outcome.
CRASHED_FINAL_AFTER_S = 60.0
_BANNED = re.compile(r"[/%&<>]")  # characters Prefect refuses in a work queue's name
VCENTER_QUEUE = "vcenter-"
APPLIANCE_QUEUE, APPLIANCE_QUEUE_SEP = "appliance-", "@"  # "@" is in no appliance name (plan column `appliance`)


def vcenter_queue(vcenter: str) -> str:
    """The work queue of a vCenter's VMs: every appliance serving it polls it."""
    return f"{VCENTER_QUEUE}{_BANNED.sub('-', vcenter)}"


def appliance_queue(appliance: str, vcenter: str) -> str:
    """The work queue of the VMs of `vcenter` that the plan gives to `appliance`: that appliance alone polls it, and
    makes it on start for each vCenter it serves, so that the pool's queues say which appliances serve which
    vCenters (`appliances_known`)."""
    return f"{APPLIANCE_QUEUE}{appliance}{APPLIANCE_QUEUE_SEP}{vcenter_queue(vcenter)}"


async def appliances_known() -> dict[str, set[str]] | None:
    """Each appliance that ever started against this Prefect server, with the vCenters it serves (as their queues
    name them); None when none ever did (the pool is missing: one appliance running waves in its own process)."""
    async with get_client() as client:
        try:
            queues = await client.read_work_queues(work_pool_name=POOL)
        except ObjectNotFound:
            return None
    known: dict[str, set[str]] = {}
    for queue in queues:
        appliance, sep, vcenter = queue.name.removeprefix(APPLIANCE_QUEUE).partition(APPLIANCE_QUEUE_SEP)
        if queue.name.startswith(APPLIANCE_QUEUE) and sep:
            known.setdefault(appliance, set()).add(vcenter.removeprefix(VCENTER_QUEUE))
    return known


class NoAppliance(RuntimeError):
    """No appliance ever started against this Prefect server: nothing would take the VMs' runs."""


@dataclass(frozen=True)
class VmRun:
    """One VM's run to dispatch: its flow run's name and parameters, and where it may run."""

    vm: str
    name: str
    vcenter: str
    parameters: dict
    appliance: str | None = None  # the plan's `appliance`; None: any appliance of the VM's vCenter
    row: int | None = None  # the plan's row, for the message when its appliance cannot take it

    @property
    def queue(self) -> str:
        return appliance_queue(self.appliance, self.vcenter) if self.appliance else vcenter_queue(self.vcenter)


async def replicate_on_appliances(vms: Sequence[WavePlanRow], facts: dict[str, VmFacts]) -> list[dict]:
    """Each VM's `replicate-vm` run on an appliance of its vCenter (the plan's appliance, when its row names one);
    its outcome row once every run is final."""
    return await run_on_appliances(REPLICATE_DEPLOYMENT, [
        VmRun(vm.source_vm, REPLICATE_RUN + vm.source_vm, facts[vm.source_vm].vcenter,
              {"vm": TypeAdapter(WavePlanRow).dump_python(vm, mode="json"),
               "facts": TypeAdapter(VmFacts).dump_python(facts[vm.source_vm], mode="json")},
              appliance=vm.appliance, row=vm.row)
        for vm in vms])


async def run_on_appliances(deployment: str, runs: Sequence[VmRun]) -> list[dict]:
    """Dispatch each VM's run of `deployment`, then its outcome row once every run is final; a VM whose plan names
    an appliance that does not serve its vCenter is `failed` and not dispatched. Each run is dispatched once per
    run of the calling flow (idempotency key): one retried after a crash finds the runs it made before."""
    parent = FlowRunContext.get().flow_run.id
    refused = await _refusals([run for run in runs if run.appliance])
    to_dispatch = [run for run in runs if run.vm not in refused]
    turns = asyncio.Semaphore(DISPATCH_AT_ONCE)

    async def dispatch(run: VmRun) -> uuid.UUID:
        async with turns:
            return (await _dispatch(deployment, run, parent)).id
    ids = await asyncio.gather(*(dispatch(run) for run in to_dispatch))
    dispatched = {run.vm: run_id for run, run_id in zip(to_dispatch, ids, strict=True)}
    await _warn_of_idle_queues({run.queue for run in runs if run.vm not in refused})
    rows = await _outcomes_when_final(dispatched) if dispatched else []
    return rows + [outcome_row(vm, "failed", error=error) for vm, error in refused.items()]


async def _refusals(pinned: Sequence[VmRun]) -> dict[str, str]:
    """The VMs whose plan names an appliance that never started serving their vCenter, with why."""
    if not pinned:
        return {}
    known = await appliances_known() or {}
    refused = {}
    for run in pinned:
        if vcenter_queue(run.vcenter) not in {vcenter_queue(name) for name in known.get(run.appliance, ())}:
            serves = ", ".join(sorted(known.get(run.appliance, ()))) or "none"
            row = f"row {run.row}: " if run.row else ""
            refused[run.vm] = (f"{row}{run.vm} is planned on appliance {run.appliance!r}, which does not serve its "
                               f"vCenter {run.vcenter} (it serves: {serves}); start it with that vCenter's "
                               f"VMSHIFT_VCENTER_*, or plan the VM on an appliance of it, or on none")
    return refused


async def _dispatch(deployment: str, run: VmRun, parent: uuid.UUID) -> FlowRun:
    try:
        return await run_deployment(
            deployment, timeout=0, flow_run_name=run.name, tags=[APPLIANCE_TAG], work_queue_name=run.queue,
            idempotency_key=f"{parent}:{run.vm}", parameters=run.parameters)
    except ObjectNotFound:
        raise NoAppliance(f"{run.vm}: no appliance has started against this Prefect server (the {deployment} "
                          f"deployment is missing): start `vmshift appliance` on a machine that reaches vCenter "
                          f"{run.vcenter}, then run again") from None


async def _warn_of_idle_queues(queues: set[str]) -> None:
    """Say so when no appliance polls a queue: its VMs' runs wait, Scheduled, until one starts."""
    async with get_client() as client:
        for name in sorted(queues):
            queue = await client.read_work_queue_by_name(name, work_pool_name=POOL)
            if queue.status != WorkQueueStatus.READY:
                get_run_logger().warning("no appliance polls the queue %s: its VMs' runs wait until one starts "
                                         "(`vmshift appliance`)", name)


async def _outcomes_when_final(runs: dict[str, uuid.UUID]) -> list[dict]:
    crashed_at: dict[uuid.UUID, float] = {}
    rows: dict[str, dict] = {}
    while len(rows) < len(runs):
        await asyncio.sleep(POLL_S)
        try:
            async with get_client() as client:
                found = {run.id: run for run in await runs_by_id(client, list(runs.values()))}
        except Exception as error:  # the server is busy or restarting: the runs go on, ask again
            get_logger(__name__).warning("reading the VMs' runs failed (%s); asking again", error)
            continue
        for vm, run_id in runs.items():
            state = found[run_id].state if run_id in found else None
            if vm in rows or state is None:
                continue
            if state.type != StateType.CRASHED:
                crashed_at.pop(run_id, None)
            if state.type == StateType.COMPLETED:
                rows[vm] = outcome_row(vm, "protected", flow_run=str(run_id))
            elif state.type == StateType.CANCELLED:
                rows[vm] = outcome_row(vm, "stopped", error=state.message, flow_run=str(run_id))
            elif state.type == StateType.FAILED or (
                    state.type == StateType.CRASHED
                    and time.monotonic() - crashed_at.setdefault(run_id, time.monotonic()) > CRASHED_FINAL_AFTER_S):
                rows[vm] = outcome_row(vm, "failed", error=state.message, flow_run=str(run_id))
    return [rows[vm] for vm in runs]
