"""A wave's VMs on the appliances: each VM's `replicate-vm` run Scheduled in its vCenter's work queue, where an
appliance of that vCenter (flows/appliance.py) takes it; the wave only reads their states until all are final.

`run_deployment` rather than a deployment per appliance: a run in a vCenter's queue belongs to no appliance, so
another one of that vCenter takes it when its first appliance is lost (docs/scale-out.md, "Dispatch").
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Sequence

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType, WorkQueueStatus
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from pydantic import TypeAdapter

from flows.stop import REPLICATE_RUN
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import WavePlanRow
from vmshift.vsphere.facts import VmFacts

POOL = "vmshift-appliances"
REPLICATE_DEPLOYMENT = "replicate-vm/replicate-vm"
# Only the dispatched runs carry it: the lost-appliance automations must never touch another flow's runs.
APPLIANCE_TAG = "vmshift-appliance"
POLL_S = 3.0
# The rerun automation schedules a Crashed run again within a second (bench/lost_appliance.py: 0.5 s); one
# still Crashed after this was not rerun, and is the VM's outcome.
CRASHED_FINAL_AFTER_S = 60.0
_BANNED = re.compile(r"[/%&<>]")  # characters Prefect refuses in a work queue's name


def vcenter_queue(vcenter: str) -> str:
    """The work queue of a vCenter's VMs: every appliance serving it polls it."""
    return f"vcenter-{_BANNED.sub('-', vcenter)}"


class NoAppliance(RuntimeError):
    """No appliance ever started against this Prefect server: nothing would take the VMs' runs."""


async def replicate_on_appliances(vms: Sequence[WavePlanRow], facts: dict[str, VmFacts]) -> list[dict]:
    """Dispatch each VM's run, then its outcome row once every run is final. Each run is dispatched once per
    wave run (idempotency key): a wave retried after a crash finds the runs it made before."""
    wave_run = FlowRunContext.get().flow_run.id
    runs = {}
    for vm in vms:
        runs[vm.source_vm] = (await _dispatch(vm, facts[vm.source_vm], wave_run)).id
    await _warn_of_idle_queues({facts[vm.source_vm].vcenter for vm in vms})
    return await _outcomes_when_final(runs)


async def _dispatch(vm: WavePlanRow, facts: VmFacts, wave_run: uuid.UUID) -> FlowRun:
    try:
        return await run_deployment(
            REPLICATE_DEPLOYMENT, timeout=0, flow_run_name=REPLICATE_RUN + vm.source_vm, tags=[APPLIANCE_TAG],
            work_queue_name=vcenter_queue(facts.vcenter), idempotency_key=f"{wave_run}:{vm.source_vm}",
            parameters={"vm": TypeAdapter(WavePlanRow).dump_python(vm, mode="json"),
                        "facts": TypeAdapter(VmFacts).dump_python(facts, mode="json")})
    except ObjectNotFound:
        raise NoAppliance(f"{vm.source_vm}: no appliance has started against this Prefect server (the "
                          f"{REPLICATE_DEPLOYMENT} deployment is missing): start `vmshift appliance` on a machine "
                          f"that reaches vCenter {facts.vcenter}, then run the wave again") from None


async def _warn_of_idle_queues(vcenters: set[str]) -> None:
    """Say so when no appliance polls a vCenter's queue: its VMs' runs wait, Scheduled, until one starts."""
    async with get_client() as client:
        for vcenter in sorted(vcenters):
            queue = await client.read_work_queue_by_name(vcenter_queue(vcenter), work_pool_name=POOL)
            if queue.status != WorkQueueStatus.READY:
                get_run_logger().warning("no appliance of vCenter %s polls its queue %s: its VMs' runs wait until "
                                         "one starts (`vmshift appliance`)", vcenter, queue.name)


async def _outcomes_when_final(runs: dict[str, uuid.UUID]) -> list[dict]:
    crashed_at: dict[uuid.UUID, float] = {}
    rows: dict[str, dict] = {}
    while len(rows) < len(runs):
        await asyncio.sleep(POLL_S)
        try:
            async with get_client() as client:
                found = {run.id: run for run in await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(runs.values()))))}
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
