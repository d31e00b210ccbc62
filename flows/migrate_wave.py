"""`migrate-wave`: private endpoint → approval → private DNS → DNS gate, then each VM's initial replication.

Nothing replicates before its cache account's DNS gate passes. Each VM replicates in a `replicate-vm` run of
its own, so the UI shows each VM's run, state and logs under the wave: a subflow of the wave's process, or with
`dispatch`, a run that an appliance of its vCenter takes (flows/dispatch.py, flows/appliance.py), alone or with
`vms_per_run` a subflow of a `replicate-vms` run that holds several (docs/scale-out.md, "Batches"). They run
concurrently, bounded by the global concurrency limits, and one VM's failure never stops the others: the wave's
result and its table artifact name each VM's outcome.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

from prefect import Flow, State, flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, acreate_table_artifact, aupdate_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Cancelled, Cancelling
from prefect.tasks import Task
from pydantic import TypeAdapter

from flows.dispatch import (
    crash_unfinished,
    every_subflow_of,
    latest_by_name,
    replicate_on_appliances,
    subflows_of,
)
from flows.selection import failures_of, side_by_side
from flows.stop import REPLICATE_RUN, STOPPING, ended, stop_requests, stopped_outside_cycle
from tasks.access import permissions
from tasks.dns import dns_gate, private_dns
from tasks.endpoint import private_endpoint
from tasks.lifecycle import refusals, run_actor, take_step
from tasks.replication import readiness, source_facts
from tasks.slots import cycle_within_limits, prepare_limits, serially
from vmshift.migration import connections
from vmshift.migration.appliance import Appliance
from vmshift.migration.report import artifact_key, outcome_row
from vmshift.migration.target import left_out_disks, migrated_disk_keys
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.replication.cycle import CycleStopped
from vmshift.schedule import BlackoutWindow, blackout_end
from vmshift.state import lifecycle
from vmshift.steps import MigrationStep
from vmshift.vsphere.facts import VmFacts

PROGRESS_S = 10.0  # how often a VM's progress artifact is brought up to date
STOP_POLL_S = 1.0  # how often a `replicate-vms` run looks at its stop event (its watch asks the server every 3 s)
ATTEMPT_KEYS = 1_000_000  # subflow keys for each attempt of a `replicate-vms` run: more than it holds VMs


@flow(name="migrate-wave", flow_run_name="migrate-{wave.name}")
async def migrate_wave(wave: Wave, appliance: Appliance | None = None, dispatch: bool = False,
                       blackout_windows: list[str] | None = None, vms_per_run: int = 1) -> dict:
    """Replicate every VM of the wave that is ready; returns `{"wave", "vms": [{vm, outcome, ...}]}`. With
    `dispatch`, the VMs' runs go to the appliances of their vCenters instead of running in this process: each
    VM's run on its own, or with `vms_per_run` above 1, up to that many VMs' runs as subflows of one run. Inside
    one of the appliance's `blackout_windows` (as delta-sync takes them), the initial replication waits for its
    end: the endpoint, DNS, gate and readiness are done first."""
    appliance = appliance or Appliance.from_env()
    blackouts = [BlackoutWindow.parse(text) for text in blackout_windows or ()]  # a bad one fails before any call
    if vms_per_run < 1:
        raise ValueError(f"vms_per_run is {vms_per_run}: give 1 (each VM's run on its own) or more")
    log = get_run_logger()
    await permissions(MigrationStep.REPLICATION, list(wave.vms), appliance)
    accounts = sorted({vm.cache_storage_account for vm in wave.vms})
    regions = {vm.cache_storage_account: vm.region for vm in wave.vms}
    gate_errors = await failures_of(accounts, lambda account: _reach_privately(account, regions[account], appliance))

    names = [vm.source_vm for vm in wave.vms]
    facts = await source_facts(names, {vm.source_vm: vm.target_vm_name for vm in wave.vms},
                               {vm.source_vm: vm.vcenter for vm in wave.vms})
    verdicts = {verdict.vm: verdict for verdict in readiness(names, facts)}
    outcomes: dict[str, dict] = {}
    runnable: list[WavePlanRow] = []
    not_ready: list[WavePlanRow] = []
    for vm in wave.vms:
        if vm.cache_storage_account in gate_errors:
            outcomes[vm.source_vm] = outcome_row(vm.source_vm, "blocked",
                                                 error=str(gate_errors[vm.cache_storage_account]))
        elif not verdicts[vm.source_vm].ready:
            outcomes[vm.source_vm] = outcome_row(vm.source_vm, "blocked",
                                                 error="; ".join(verdicts[vm.source_vm].blocking))
            not_ready.append(vm)
        else:
            runnable.append(vm)
    await _record_blocks(not_ready, outcomes)
    for name, verdict in verdicts.items():
        for warning in verdict.warnings:
            log.warning("%s: %s", name, warning)

    held_until = blackout_end(datetime.now(UTC), blackouts) if runnable else None
    if held_until is not None:
        log.info("wave %s: appliance %s is in a blackout window: %d VMs start their initial replication at %s",
                 wave.name, appliance.name, len(runnable), held_until.isoformat())
        await hold_until(held_until)
    if dispatch:
        outcomes |= {row["vm"]: row for row in await replicate_on_appliances(runnable, facts, vms_per_run)}
        return await _report(wave, names, outcomes, facts)
    await prepare_limits([facts[vm.source_vm] for vm in runnable], appliance)

    async def replicate(vm: WavePlanRow) -> dict:
        return await _replicate(vm, facts[vm.source_vm], appliance)
    for row in await side_by_side(runnable, replicate, lambda _, outcome: outcome, asks=lifecycle.Step.REPLICATE):
        outcomes[row["vm"]] = row
    return await _report(wave, names, outcomes, facts)


async def _replicate(vm: WavePlanRow, facts: VmFacts, appliance: Appliance) -> dict:
    """The VM's `replicate-vm` run, as a subflow of the calling run: its outcome row."""
    state = await ended(await replicate_vm(vm, facts, appliance, return_state=True))
    if state.type in STOPPING:
        return outcome_row(vm.source_vm, "stopped", error=state.message)
    return await state.aresult()  # raises the VM's error when its run failed


async def hold_until(moment: datetime) -> None:
    """Wait, in the wave's run, until `moment` (a blackout window's end)."""
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def _report(wave: Wave, names: list[str], outcomes: dict[str, dict], facts: dict[str, VmFacts]) -> dict:
    log = get_run_logger()
    for vm in wave.vms:  # the table says which disks the plan leaves out: never replicated nor built
        left_out = left_out_disks(vm, facts[vm.source_vm]) if vm.source_vm in facts else []
        if left_out:
            log.info("%s: %s left out by the plan's disks: not replicated, no managed disk", vm.source_vm,
                     ", ".join(left_out))
        outcomes[vm.source_vm]["disks_left_out"] = ", ".join(left_out)
    rows = [outcomes[name] for name in names]
    await acreate_table_artifact(rows, key=artifact_key("wave", wave.name),
                                 description=f"Wave {wave.name}: each VM's outcome after its initial replication")
    failed = [row["vm"] for row in rows if row["outcome"] != "protected"]
    if failed:
        log.error("wave %s: %d of %d VMs did not finish: %s", wave.name, len(failed), len(rows), ", ".join(failed))
    return {"wave": wave.name, "vms": rows}


async def _record_blocks(not_ready: list[WavePlanRow], outcomes: dict[str, dict]) -> None:
    """A VM that readiness blocks before it ever replicated is blocked, with the reasons; one that replicated keeps
    its phase, and its next cycle says what is wrong."""
    replicated = await refusals(not_ready, lifecycle.Step.BLOCK) if not_ready else {}
    await asyncio.gather(*(take_step(vm, lifecycle.Step.BLOCK, note=outcomes[vm.source_vm]["error"], as_error=True)
                           for vm in not_ready if vm.source_vm not in replicated))


async def _reach_privately(account: str, region: str, appliance: Appliance) -> None:
    """Endpoint, DNS, gate for one cache account: each step waits for the one before."""
    endpoint = await private_endpoint(account, region, appliance)
    await private_dns(endpoint, appliance)
    await dns_gate(account, endpoint, appliance)


async def _stopped_outside_cycle(flow: Flow, run: FlowRun, state: State) -> None:
    vm = TypeAdapter(WavePlanRow).validate_python(run.parameters["vm"])
    await stopped_outside_cycle(flow.name, run, vm.source_vm, vm.cache_storage_account)


@flow(name="replicate-vm", flow_run_name=REPLICATE_RUN + "{vm.source_vm}", validate_parameters=False,
      on_cancellation=[_stopped_outside_cycle])
async def replicate_vm(vm: WavePlanRow, facts: VmFacts, appliance: Appliance | None = None) -> dict | State:
    """The VM's initial replication (CBT, snapshot, full copy, snapshot removed, first recovery point), with
    its progress artifact. Cancelling this run stops this VM alone and ends it Cancelled (flows/stop.py), even
    before its first line runs (its `on_cancellation` hook).
    Without `appliance`, it runs on the appliance whose environment this is, which creates its own limits.

    Needs a server on PostgreSQL for wide waves: on SQLite, concurrent subflows collide on the database lock
    (README, "The lab"). Its parameters come from the wave's own code, so Prefect does not validate them again.
    """
    if appliance is None:
        appliance = Appliance.from_env()
        await prepare_limits([facts], appliance)
    latest = LatestPercent()
    progress = await serially(acreate_progress_artifact(0.0, key=artifact_key("replication", vm.source_vm),
                                                        description=f"{vm.source_vm}: initial replication"))
    publisher = asyncio.create_task(_publish_progress(progress, latest))
    try:
        with stop_requests() as stop:
            outcome = await cycle_within_limits(vm.source_vm, vm.cache_storage_account, facts, appliance, stop,
                                                latest, included_disks=migrated_disk_keys(vm, facts),
                                                placement=(vm.appliance, vm.vcenter))
    except CycleStopped as stopped:
        get_run_logger().warning("%s: %s", vm.source_vm, stopped)
        # Said by its cycle already, unless it was stopped while it waited for its slots; not a task: the run is
        # being cancelled.
        await asyncio.to_thread(connections.record_stop, vm.source_vm, vm.cache_storage_account, run_actor(),
                                f"CycleStopped: {stopped}")
        return Cancelled(message=str(stopped))
    finally:
        publisher.cancel()
    await serially(aupdate_progress_artifact(progress, 100.0))
    return outcome


async def _batch_stopped_outside(flow: Flow, run: FlowRun, state: State) -> None:
    """A `replicate-vms` run that Prefect left Cancelling (the stop landed before its body began, or once it ended)
    ends Cancelled; its VMs' own runs say what each did."""
    async with get_client() as client:
        await client.set_flow_run_state(run.id, Cancelled(message=state.message or "stopped on request"))


@flow(name="replicate-vms", validate_parameters=False, on_cancellation=[_batch_stopped_outside])
async def replicate_vms(vms: list[WavePlanRow], facts: dict[str, VmFacts]) -> list[dict] | State:
    """Several VMs' initial replications in one run on one appliance, each VM's `replicate-vm` run a subflow of it,
    side by side: a deployment run costs Prefect ~0.3-0.5 s before it does anything (bench/run_floor.py), a
    subflow a fraction of that (docs/scale-out.md, "Batches"). Each VM's run stops alone (its Cancel button);
    this run's Cancel button stops all of its VMs. Run again after its appliance was lost, it replicates only the
    VMs whose run did not end, each in a new run that resumes from its checkpoints."""
    appliance = Appliance.from_env()
    await prepare_limits(list(facts.values()), appliance)
    run = FlowRunContext.get().flow_run
    ended_before: set[str] = set()
    if run.run_count > 1:  # its appliance was lost: the VMs' runs it lost are crashed, the others ended for good
        async with get_client() as client:
            earlier = await every_subflow_of(client, [run.id])
            # The wave crashed them as it saw this run Crashed, unless it was not watching then.
            await crash_unfinished(client, earlier, f"its batch run {run.name}'s appliance was lost")
            ended_before = {name for name, found in latest_by_name(earlier).items()
                            if found.state and found.state.is_final() and found.state.type != StateType.CRASHED}
        _count_subflows_on_from(run.run_count)
    todo = [vm for vm in vms if REPLICATE_RUN + vm.source_vm not in ended_before]
    if ended_before:
        get_run_logger().info("run again: %d of its %d VMs' runs ended before, %d replicate now",
                              len(vms) - len(todo), len(vms), len(todo))
    # The VMs' runs carry no appliance tag: the server evaluates the lost-appliance automations on each event of a
    # tagged run (two thirds of its event loop's work in a 500-VM wave, measured). A lost appliance's VMs' runs are
    # crashed by the wave, or by this run's next attempt. So nothing watches their heartbeats, and they send none:
    # each was an event for the server to store (a fifth of a batched wave's) and a thread of the appliance's.
    with stop_requests() as stop, temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        stopper = asyncio.create_task(_stop_vms_when(stop, run.id))
        try:
            ran = await asyncio.gather(*(_replicate(vm, facts[vm.source_vm], appliance) for vm in todo),
                                       return_exceptions=True)
        finally:
            stopper.cancel()
    if stop.is_set():
        return Cancelled(message=f"stopped on request: each of its {len(todo)} VMs' runs says what it did")
    return [outcome if isinstance(outcome, dict)
            else outcome_row(vm.source_vm, "failed", error=f"{type(outcome).__name__}: {outcome}")
            for vm, outcome in zip(todo, ran, strict=True)]


async def _stop_vms_when(stop: threading.Event, batch: uuid.UUID) -> None:
    """Once the batch's run is asked to stop, ask each of its VMs' runs in flight: each stops as its own Cancel
    button would stop it."""
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_S)
    async with get_client() as client:
        for found in (await subflows_of(client, [batch])).values():
            if found.state and not found.state.is_final() and found.state.type not in STOPPING:
                await client.set_flow_run_state(found.id, Cancelling(message="its batch's stop was requested"))


def _count_subflows_on_from(attempt: int) -> None:
    """Give the subflows of this attempt keys no earlier attempt used. Prefect keys a subflow's tracking task run by
    a counter in the parent run, and reattaches a rerun parent's subflow to the earlier run of the same key: with
    the completed VMs left out, the counter would hand a VM another VM's run (and the name, the result)."""
    tracking = Task(name=replicate_vm.name, fn=replicate_vm.fn, version=replicate_vm.version)
    FlowRunContext.get().task_run_dynamic_keys[tracking.task_key] = attempt * ATTEMPT_KEYS - 1


class LatestPercent:
    """The percent done that the cycle's thread reported last."""

    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self, percent: float) -> None:
        self.value = percent


async def _publish_progress(artifact_id: uuid.UUID, latest: LatestPercent) -> None:
    """Show the cycle's progress every PROGRESS_S, when it moved: one small write per VM, not one per page."""
    shown = 0.0
    while True:
        await asyncio.sleep(PROGRESS_S)
        if latest.value > shown:
            shown = latest.value
            await serially(aupdate_progress_artifact(artifact_id, shown))
