"""`delta-sync`, on an interval schedule: runs the delta cycles that are due, concurrently, within the limits.

Which VMs are due follows Azure Migrate's rule (vmshift/schedule.py); none starts inside a blackout window
of the appliance. With `dispatch`, each due VM's cycle is a `delta-cycle` run of its own that an appliance of its
vCenter takes (flows/dispatch.py), as a wave's VMs' runs are; without, the pass runs them in its own process.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from prefect import Flow, State, flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled
from pydantic import TypeAdapter

from flows.dispatch import DELTA_DEPLOYMENT, VmRun, run_on_appliances
from flows.selection import failures_of, publish_history
from flows.stop import DELTA_RUN, stop_requests, stopped_outside_cycle
from tasks.access import permissions
from tasks.delta import due_cycles
from tasks.dns import gate_between_cycles
from tasks.lifecycle import run_actor
from tasks.replication import source_facts
from tasks.slots import cycle_within_limits, prepare_limits
from vmshift.migration import connections
from vmshift.migration.appliance import Appliance
from vmshift.migration.connections import replication_states
from vmshift.migration.report import artifact_key, outcome_row
from vmshift.replication.cycle import CycleStopped
from vmshift.schedule import BlackoutWindow, CycleRule
from vmshift.state import lifecycle
from vmshift.state.status import status_rows
from vmshift.steps import MigrationStep
from vmshift.vsphere.facts import VmFacts


@flow(name="delta-sync")
async def delta_sync(
    cache_accounts: list[str] | None = None,
    appliance: Appliance | None = None,
    min_interval_minutes: float = 60,
    max_interval_minutes: float = 720,
    blackout_windows: list[str] | None = None,
    vms: list[str] | None = None,
    dispatch: bool = False,
) -> dict:
    """One pass: every due VM (of `vms`, when given) runs one delta cycle; returns `{"due", "vms"}`. With
    `dispatch`, each cycle is a run of its own on an appliance of the VM's vCenter, and the pass ends once all
    are final."""
    appliance = appliance or Appliance.from_env()
    accounts = cache_accounts or [a for a in os.environ.get("VMSHIFT_CACHE_ACCOUNT", "").split(",") if a]
    rule = CycleRule(timedelta(minutes=min_interval_minutes), timedelta(minutes=max_interval_minutes))
    blackouts = [BlackoutWindow.parse(text) for text in blackout_windows or ()]
    found, unreadable = await asyncio.to_thread(replication_states, accounts)
    states = {vm: state for vm, state in found.items() if not vms or vm in vms}
    # A VM whose state cannot be read is not cycled (nothing would say from where), and says so every pass.
    broken = [outcome_row(entry.vm, "failed", error=entry.error) for entry in unreadable if not vms or entry.vm in vms]
    for row in broken:
        get_run_logger().error("%s: %s", row["vm"], row["error"])
    due = due_cycles(states, appliance.name, rule, blackouts)
    if not due:
        get_run_logger().info("no delta cycle is due among %d VMs", len(states))
    rows = await _run_cycles(due, states, appliance, dispatch) if due else []
    after = states  # nothing ran: the states read above are current
    if due:
        found, _ = await asyncio.to_thread(replication_states, accounts)
        after = {vm: state for vm, state in found.items() if vm in states}
        rows = [_with_last_cycle(row, after) for row in rows]
    await acreate_table_artifact(status_rows(after, rule), key=artifact_key("replication-status", appliance.name),
                                 description="Each VM: phase, last cycle, recovery points, next cycle due, error")
    return {"due": due, "vms": rows + broken}


async def _run_cycles(due: list[str], states: dict, appliance: Appliance, dispatch: bool) -> list[dict]:
    await permissions(MigrationStep.REPLICATION, [], appliance, vms={vm: states[vm][1].vcenter for vm in due})
    accounts = sorted({states[vm][0] for vm in due})
    closed = await failures_of(accounts, lambda account: gate_between_cycles(account, appliance))
    # A closed gate pauses its account's VMs, blobs untouched; the next pass after the DNS is fixed runs them.
    paused = [outcome_row(vm, "failed", error=f"replication paused: {closed[states[vm][0]]}")
              for vm in due if states[vm][0] in closed]
    due = [vm for vm in due if states[vm][0] not in closed]
    if not due:
        return paused
    facts = await source_facts(due, {}, {vm: states[vm][1].vcenter for vm in due})
    found = [vm for vm in due if vm in facts]
    if dispatch:
        rows = await run_on_appliances(DELTA_DEPLOYMENT, [VmRun(
            vm, DELTA_RUN + vm, facts[vm].vcenter,
            {"vm": vm, "cache_account": states[vm][0], "included_disks": states[vm][1].included_disks,
             "facts": TypeAdapter(VmFacts).dump_python(facts[vm], mode="json")},
            appliance=states[vm][1].appliance) for vm in found])
    else:
        await prepare_limits(facts.values(), appliance)
        results = await asyncio.gather(
            *(cycle_within_limits(vm, states[vm][0], facts[vm], appliance, step=lifecycle.Step.DELTA_CYCLE,
                                  included_disks=states[vm][1].included_disks) for vm in found),
            return_exceptions=True)
        rows = [outcome_row(vm, "failed", error=f"{type(result).__name__}: {result}")
                if isinstance(result, BaseException) else result for vm, result in zip(found, results, strict=True)]
    await asyncio.gather(*(publish_history(vm, states[vm][0]) for vm in found))
    rows += [outcome_row(vm, "failed", error="not found in the vCenter inventory") for vm in due if vm not in facts]
    return rows + paused


def _with_last_cycle(row: dict, states: dict) -> dict:
    """A dispatched cycle's row, with what its run did as the VM's state records it (a run's own return value
    stays on its appliance)."""
    last = states[row["vm"]][1].last_cycle if row["vm"] in states else None
    if row["outcome"] != "protected" or "cycle" in row or last is None:
        return row
    return row | {"kind": last.kind, "cycle": last.cycle, "bytes_sent": last.bytes_sent,
                  "changed_bytes": last.changed_bytes, "seconds": last.seconds}


async def _stopped_outside_cycle(flow: Flow, run: FlowRun, state: State) -> None:
    await stopped_outside_cycle(flow.name, run, run.parameters["vm"], run.parameters["cache_account"])


@flow(name="delta-cycle", flow_run_name=DELTA_RUN + "{vm}", validate_parameters=False,
      on_cancellation=[_stopped_outside_cycle])
async def delta_cycle(vm: str, cache_account: str, facts: VmFacts, included_disks: list[int] | None = None
                      ) -> dict | State:
    """One VM's delta cycle, dispatched by a delta-sync pass to an appliance of its vCenter, within the limits the
    server holds for every appliance; returns its outcome row. Cancelling this run stops this VM alone, its writes
    in flight checkpointed, even before its first line runs (its `on_cancellation` hook, flows/stop.py): the next
    pass resumes it. Its parameters come from the pass's own code, so Prefect does not validate them again."""
    appliance = Appliance.from_env()
    await prepare_limits([facts], appliance)
    try:
        with stop_requests() as stop:
            return await cycle_within_limits(vm, cache_account, facts, appliance, stop, step=lifecycle.Step.DELTA_CYCLE,
                                             included_disks=included_disks)
    except CycleStopped as stopped:
        get_run_logger().warning("%s: %s", vm, stopped)
        # Said by its cycle already (the same note again writes nothing), unless it was stopped while it waited for
        # its slots; not a task: the run is being cancelled.
        await asyncio.to_thread(connections.record_stop, vm, cache_account, run_actor(), f"CycleStopped: {stopped}")
        return Cancelled(message=str(stopped))

