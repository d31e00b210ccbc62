"""The flows' VMs in their lifecycle (vmshift/state/lifecycle.py): who takes a step (the flow run), the check a
flow makes before it starts a VM's step, a step the flow itself takes, and a VM's history for its artifact."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prefect import task
from prefect.runtime import flow_run

from tasks.retry import TRANSIENT_RETRY
from vmshift.migration import row_lifecycle
from vmshift.plan.schema import WavePlanRow
from vmshift.state.lifecycle import Actor, Phase, Step


def run_actor() -> Actor:
    """The flow run taking a step, on this worker's user and host."""
    return Actor.here(flow_run.flow_name or "vmshift", str(flow_run.id) if flow_run.id else None)


@task(name="lifecycle-refusals", tags=["blob"], **TRANSIENT_RETRY)
async def refusals(vms: Sequence[WavePlanRow], step: Step) -> dict[str, str]:
    """The VMs whose phase refuses `step`, each with why and what to do instead: they are left out."""
    return await asyncio.to_thread(row_lifecycle.refusals, vms, step)


@task(name="lifecycle-step", task_run_name="{step}-{vm.source_vm}", tags=["blob"], **TRANSIENT_RETRY)
async def take_step(vm: WavePlanRow, step: Step, note: str | None = None, as_error: bool = False) -> Phase:
    return await asyncio.to_thread(row_lifecycle.take, vm, step, run_actor(), note=note, as_error=as_error)


@task(name="lifecycle-history", tags=["blob"], **TRANSIENT_RETRY)
async def history(vm: str, cache_account: str) -> str:
    """The VM's phase and history, in markdown (its artifact)."""
    return await asyncio.to_thread(row_lifecycle.history, vm, cache_account)
