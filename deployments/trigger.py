"""The API-triggered steps (test migration, its clean-up, cutover and its verification, rollback) as runs of
their deployments.

The CLI and anyone scripting against Prefect's API do the same thing: create a flow run of the step's
deployment with the wave (and optionally VMs) as parameters, then watch it until it ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
from prefect.client.schemas.sorting import FlowRunSort

from deployments.upload import WAVE_DEPLOYMENT, WaveNotUploaded

STEP_DEPLOYMENTS = {
    "test-migrate": "test-migrate/test-migrate",
    "cleanup-test": "cleanup-test/cleanup-test",
    "cutover": "cutover/cutover",
    "verify-cutover": "verify-cutover/verify-cutover",
    "rollback": "rollback/rollback",
}


class StepRunFailed(RuntimeError):
    """The step's flow run did not complete; the message carries its final state."""


async def wave_of_vm(vm: str) -> str:
    """The uploaded wave that holds the VM (its latest upload wins)."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[WAVE_DEPLOYMENT.split("/")[1]])),
            flow_run_filter=FlowRunFilter(), sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=200)
    for run in runs:
        wave = run.parameters.get("wave") or {}
        if any(row.get("source_vm") == vm for row in wave.get("vms", [])):
            return wave["name"]
    raise WaveNotUploaded(f"no uploaded wave holds VM {vm!r}: upload its plan, or name the wave with --wave")


async def run_step(step: str, parameters: dict[str, Any], wait: bool = True, timeout_s: float = 3600) -> dict:
    """Create the step's flow run; with `wait`, return what the flow returned once it completed."""
    return await run_deployment_named(STEP_DEPLOYMENTS[step], parameters, wait, timeout_s)


async def run_deployment_named(
    name: str, parameters: dict[str, Any], wait: bool = True, timeout_s: float = 3600
) -> dict:
    """Create a flow run of the deployment `flow/deployment`; with `wait`, as `finished_run` returns it."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(name)
        run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    if not wait:
        return {"flow_run_id": str(run.id), "state": run.state.name if run.state else None}
    return await finished_run(run.id, name, timeout_s)


async def finished_run(run_id: uuid.UUID | str, what: str, timeout_s: float = 3600) -> dict:
    """Wait for the flow run to end; `{"flow_run_id", **what the flow returned}`, or StepRunFailed."""
    deadline = time.monotonic() + timeout_s
    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        while not (run.state and run.state.is_final()):
            if time.monotonic() > deadline:
                raise StepRunFailed(f"{what} run {run.id} did not end within {timeout_s:.0f} s; it goes on: "
                                    "watch it in the Prefect UI")
            await asyncio.sleep(1.0)
            run = await client.read_flow_run(run.id)
    if not run.state.is_completed():
        raise StepRunFailed(f"{what} run {run.id} ended {run.state.name}: {run.state.message}")
    return {"flow_run_id": str(run.id), **await run.state.aresult()}
