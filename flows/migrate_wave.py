"""`migrate-wave`: private endpoint → approval → private DNS → DNS gate, then each VM's initial replication.

Nothing replicates before its cache account's DNS gate passes. Each VM replicates in a `replicate-vm` subflow of
its own, so the UI shows each VM's run, state and logs; the subflows run concurrently (gathered, bounded by the
global concurrency limits), and one VM's failure never stops the others: the wave's result and its table
artifact name each VM's outcome.
"""

from __future__ import annotations

import asyncio
import uuid

from prefect import State, flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, acreate_table_artifact, aupdate_progress_artifact
from prefect.context import FlowRunContext
from prefect.states import Cancelled

from flows.appliance import Appliance
from flows.report import artifact_key, outcome_row
from flows.selection import failures_of, side_by_side
from flows.serial import serially
from flows.stop import REPLICATE_RUN, stop_watch
from tasks.dns import dns_gate, private_dns
from tasks.endpoint import private_endpoint
from tasks.replication import cycle_within_limits, prepare_limits, readiness, source_facts
from vmshift.plan.schema import Wave, WavePlanRow
from vmshift.readiness import VmFacts
from vmshift.replication.cycle import CycleStopped

PROGRESS_S = 10.0  # how often a VM's progress artifact is brought up to date


@flow(name="migrate-wave", flow_run_name="migrate-{wave.name}")
async def migrate_wave(wave: Wave, appliance: Appliance | None = None) -> dict:
    """Replicate every VM of the wave that is ready; returns `{"wave", "vms": [{vm, outcome, ...}]}`."""
    appliance = appliance or Appliance.from_env()
    log = get_run_logger()
    accounts = sorted({vm.cache_storage_account for vm in wave.vms})
    regions = {vm.cache_storage_account: vm.region for vm in wave.vms}
    gate_errors = await failures_of(accounts, lambda account: _reach_privately(account, regions[account], appliance))

    names = [vm.source_vm for vm in wave.vms]
    facts = await source_facts(names, {vm.source_vm: vm.target_vm_name for vm in wave.vms})
    verdicts = {verdict.vm: verdict for verdict in readiness(names, facts)}
    outcomes: dict[str, dict] = {}
    runnable: list[WavePlanRow] = []
    for vm in wave.vms:
        if vm.cache_storage_account in gate_errors:
            outcomes[vm.source_vm] = outcome_row(vm.source_vm, "blocked",
                                                 error=str(gate_errors[vm.cache_storage_account]))
        elif not verdicts[vm.source_vm].ready:
            outcomes[vm.source_vm] = outcome_row(vm.source_vm, "blocked",
                                                 error="; ".join(verdicts[vm.source_vm].blocking))
        else:
            runnable.append(vm)
    for name, verdict in verdicts.items():
        for warning in verdict.warnings:
            log.warning("%s: %s", name, warning)

    await prepare_limits([facts[vm.source_vm] for vm in runnable], appliance)

    async def replicate(vm: WavePlanRow) -> dict:
        state = await replicate_vm(vm, facts[vm.source_vm], appliance, return_state=True)
        if state.is_cancelled():
            return outcome_row(vm.source_vm, "stopped", error=state.message)
        return await state.aresult()  # raises the VM's error when its run failed
    for row in await side_by_side(runnable, replicate, lambda _, outcome: outcome):
        outcomes[row["vm"]] = row
    rows = [outcomes[name] for name in names]
    await acreate_table_artifact(rows, key=artifact_key("wave", wave.name),
                                 description=f"Wave {wave.name}: each VM's outcome after its initial replication")
    failed = [row["vm"] for row in rows if row["outcome"] != "protected"]
    if failed:
        log.error("wave %s: %d of %d VMs did not finish: %s", wave.name, len(failed), len(rows), ", ".join(failed))
    return {"wave": wave.name, "vms": rows}


async def _reach_privately(account: str, region: str, appliance: Appliance) -> None:
    """Endpoint, DNS, gate for one cache account: each step waits for the one before."""
    endpoint = await private_endpoint(account, region, appliance)
    await private_dns(endpoint, appliance)
    await dns_gate(account, endpoint, appliance)


@flow(name="replicate-vm", flow_run_name=REPLICATE_RUN + "{vm.source_vm}", validate_parameters=False)
async def replicate_vm(vm: WavePlanRow, facts: VmFacts, appliance: Appliance) -> dict | State:
    """The VM's initial replication (CBT, snapshot, full copy, snapshot removed, first recovery point), with
    its progress artifact. Cancelling this run stops this VM alone and ends it Cancelled (flows/stop.py).

    Needs a server on PostgreSQL for wide waves: on SQLite, concurrent subflows collide on the database lock
    (README, "The lab"). Its parameters come from the wave's own code, so Prefect does not validate them again.
    """
    watch, run_id = stop_watch(), FlowRunContext.get().flow_run.id
    stop, latest = watch.watch(run_id), LatestPercent()
    progress = await serially(acreate_progress_artifact(0.0, key=artifact_key("replication", vm.source_vm),
                                                        description=f"{vm.source_vm}: initial replication"))
    publisher = asyncio.create_task(_publish_progress(progress, latest))
    try:
        outcome = await cycle_within_limits(vm.source_vm, vm.cache_storage_account, facts, appliance, stop, latest)
    except CycleStopped as stopped:
        get_run_logger().warning("%s: %s", vm.source_vm, stopped)
        return Cancelled(message=str(stopped))
    finally:
        publisher.cancel()
        watch.forget(run_id)
    await serially(aupdate_progress_artifact(progress, 100.0))
    return outcome


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
