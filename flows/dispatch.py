"""VMs' runs on the appliances: each VM's run (a wave's `replicate-vm`, a delta-sync pass's `delta-cycle`)
Scheduled in its vCenter's work queue, where an appliance of that vCenter (flows/appliance.py) takes it, or in the
queue of the appliance its plan row names; the calling flow only reads their states until all are final.

`run_deployment` rather than a deployment per appliance: a run in a vCenter's queue belongs to no appliance, so
another one of that vCenter takes it when its first appliance is lost (docs/scale-out.md, "Dispatch"). A wave may
put several VMs' runs in one `replicate-vms` run, each a subflow of it (docs/scale-out.md, "Batches").
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prefect import get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun, State, StateType, WorkQueueStatus
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from prefect.states import Crashed
from pydantic import TypeAdapter

from flows.stop import REPLICATE_RUN, RUNS_PER_READ, runs_by_id
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import WavePlanRow
from vmshift.vsphere.facts import VmFacts

POOL = "vmshift-appliances"
REPLICATE_DEPLOYMENT = "replicate-vm/replicate-vm"
BATCH_DEPLOYMENT = "replicate-vms/replicate-vms"
BATCH_RUN = "replicate-vms-"
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
    members: tuple[str, ...] = ()  # a `replicate-vms` run's VMs (`vm` is then its name)

    @property
    def queue(self) -> str:
        return appliance_queue(self.appliance, self.vcenter) if self.appliance else vcenter_queue(self.vcenter)


async def replicate_on_appliances(vms: Sequence[WavePlanRow], facts: dict[str, VmFacts], vms_per_run: int = 1
                                  ) -> list[dict]:
    """Each VM's `replicate-vm` run on an appliance of its vCenter (the plan's appliance, when its row names one);
    its outcome row once every run is final. With `vms_per_run` above 1, the VMs of one queue go in `replicate-vms`
    runs of up to that many VMs each, their `replicate-vm` runs subflows of it."""
    runs = [VmRun(vm.source_vm, REPLICATE_RUN + vm.source_vm, facts[vm.source_vm].vcenter,
                  {"vm": TypeAdapter(WavePlanRow).dump_python(vm, mode="json"),
                   "facts": TypeAdapter(VmFacts).dump_python(facts[vm.source_vm], mode="json")},
                  appliance=vm.appliance, row=vm.row)
            for vm in vms]
    return await run_on_appliances(REPLICATE_DEPLOYMENT, runs, vms_per_run)


def batches(runs: Sequence[VmRun], vms_per_run: int) -> list[VmRun]:
    """The runs of each queue, `vms_per_run` at most in one `replicate-vms` run, as even as that allows (60 VMs in
    runs of 25: 20, 20 and 20): a run's VMs all go to the appliance that takes it."""
    by_queue: dict[str, list[VmRun]] = {}
    for run in runs:
        by_queue.setdefault(run.queue, []).append(run)
    batched = []
    for queue_runs in by_queue.values():
        count = -(-len(queue_runs) // vms_per_run)
        for index in range(count):
            part = queue_runs[index::count]
            name = f"{BATCH_RUN}{part[0].vm}+{len(part) - 1}"
            batched.append(VmRun(
                name, name, part[0].vcenter,
                {"vms": [run.parameters["vm"] for run in part],
                 "facts": {run.vm: run.parameters["facts"] for run in part}},
                appliance=part[0].appliance, members=tuple(run.vm for run in part)))
    return batched


async def run_on_appliances(deployment: str, runs: Sequence[VmRun], vms_per_run: int = 1) -> list[dict]:
    """Dispatch each VM's run of `deployment`, then its outcome row once every run is final; a VM whose plan names
    an appliance that does not serve its vCenter is `failed` and not dispatched. Each run is dispatched once per
    run of the calling flow (idempotency key): one retried after a crash finds the runs it made before. With
    `vms_per_run` above 1 (`replicate-vm` only), the runs go in batches, and each VM's outcome is its subflow's."""
    parent = FlowRunContext.get().flow_run.id
    refused = await _refusals([run for run in runs if run.appliance])
    to_dispatch = [run for run in runs if run.vm not in refused]
    batched = vms_per_run > 1
    if batched:
        assert deployment == REPLICATE_DEPLOYMENT, f"{deployment} has no batches"
        deployment, to_dispatch = BATCH_DEPLOYMENT, batches(to_dispatch, vms_per_run)
    turns = asyncio.Semaphore(DISPATCH_AT_ONCE)

    async def dispatch(run: VmRun) -> uuid.UUID:
        async with turns:
            return (await _dispatch(deployment, run, parent)).id
    ids = await asyncio.gather(*(dispatch(run) for run in to_dispatch))
    dispatched = {run.vm: run_id for run, run_id in zip(to_dispatch, ids, strict=True)}
    await _warn_of_idle_queues({run.queue for run in runs if run.vm not in refused})
    finals = await _when_final(list(dispatched.values()), _crash_lost_vms if batched else None) if dispatched \
        else {}
    if batched:
        rows = await _batched_outcomes({run.members: dispatched[run.vm] for run in to_dispatch}, finals)
    else:
        rows = [_outcome(vm, run_id, finals[run_id]) for vm, run_id in dispatched.items()]
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


async def _when_final(runs: list[uuid.UUID], on_crashed: Callable[[FlowRun], Awaitable[None]] | None = None
                      ) -> dict[uuid.UUID, State]:
    """Each run's final state, read every POLL_S until all are final; a Crashed run is final once it stayed
    Crashed for CRASHED_FINAL_AFTER_S (else the rerun automation took it). `on_crashed` is awaited each time a
    run is seen Crashed anew."""
    crashed_at: dict[uuid.UUID, float] = {}
    finals: dict[uuid.UUID, State] = {}
    while len(finals) < len(runs):
        await asyncio.sleep(POLL_S)
        try:
            async with get_client() as client:
                found = {run.id: run for run in await runs_by_id(client, [run for run in runs if run not in finals])}
        except Exception as error:  # the server is busy or restarting: the runs go on, ask again
            get_logger(__name__).warning("reading the VMs' runs failed (%s); asking again", error)
            continue
        for run_id, run in found.items():
            state = run.state
            if state is None:
                continue
            if state.type != StateType.CRASHED:
                crashed_at.pop(run_id, None)
            elif run_id not in crashed_at and on_crashed is not None:
                try:
                    await on_crashed(run)
                except Exception as error:  # the server is busy or restarting: seen Crashed anew at the next read
                    get_logger(__name__).warning("acting on the Crashed run %s failed (%s); trying again",
                                                 run.name, error)
                    continue
            if state.type in (StateType.COMPLETED, StateType.CANCELLED, StateType.FAILED) or (
                    state.type == StateType.CRASHED
                    and time.monotonic() - crashed_at.setdefault(run_id, time.monotonic()) > CRASHED_FINAL_AFTER_S):
                finals[run_id] = state
    return finals


def _outcome(vm: str, run_id: uuid.UUID, state: State) -> dict:
    if state.type == StateType.COMPLETED:
        return outcome_row(vm, "protected", flow_run=str(run_id))
    if state.type == StateType.CANCELLED:
        return outcome_row(vm, "stopped", error=state.message, flow_run=str(run_id))
    return outcome_row(vm, "failed", error=state.message, flow_run=str(run_id))


async def _crash_lost_vms(batch: FlowRun) -> None:
    """Crash the VMs' runs that a Crashed batch run left unfinished, at once: they carry no appliance tag, so
    the lost-appliance automation does not crash them (flows/appliance.py), and the UI would show them Running."""
    assert batch.state is not None
    async with get_client() as client:
        await crash_unfinished(client, await every_subflow_of(client, [batch.id]),
                               f"its batch run {batch.name} was Crashed: {batch.state.message}",
                               before=batch.state.timestamp)


async def crash_unfinished(client: PrefectClient, vm_runs: Iterable[FlowRun], message: str,
                           before: datetime | None = None) -> None:
    """Crash each of `vm_runs` that did not end (and was made before `before`, when given). A batch run again
    after its appliance was lost makes new runs for those VMs: `before` keeps them out."""
    for run in vm_runs:
        if run.state is not None and not run.state.is_final() and (
                before is None or (run.created is not None and run.created < before)):
            await client.set_flow_run_state(run.id, Crashed(message=message), force=True)


async def _batched_outcomes(batches: dict[tuple[str, ...], uuid.UUID], finals: dict[uuid.UUID, State]
                            ) -> list[dict]:
    """Each VM's outcome: its latest subflow's final state in its batch run; a VM with none, or one its batch left
    unfinished, failed with the batch's own message."""
    async with get_client() as client:
        subflows = await subflows_of(client, list(batches.values()))
    rows = []
    for vms, batch in batches.items():
        for vm in vms:
            run = subflows.get(REPLICATE_RUN + vm)
            if run is not None and run.state is not None and run.state.is_final():
                rows.append(_outcome(vm, run.id, run.state))
            else:
                rows.append(outcome_row(vm, "failed", flow_run=str(run.id) if run else None,
                                        error=f"its batch run {batch} ended {finals[batch].type.value} before "
                                              f"the VM's own run did: {finals[batch].message}"))
    return rows


async def subflows_of(client: PrefectClient, parents: list[uuid.UUID]) -> dict[str, FlowRun]:
    """The subflows of `parents` by name, the latest of each name (a parent run again after its appliance was lost
    has a new subflow for each VM its first attempt did not finish)."""
    return latest_by_name(await every_subflow_of(client, parents))


def latest_by_name(runs: Iterable[FlowRun]) -> dict[str, FlowRun]:
    """The latest run of each name."""
    latest: dict[str, FlowRun] = {}
    for run in sorted(runs, key=lambda run: run.created or run.expected_start_time):
        latest[run.name] = run
    return latest


async def every_subflow_of(client: PrefectClient, parents: list[uuid.UUID]) -> list[FlowRun]:
    """The subflows of `parents`, every attempt's."""
    found: list[FlowRun] = []
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)),
            limit=RUNS_PER_READ, offset=len(found))
        found += page
        if len(page) < RUNS_PER_READ:
            return found
