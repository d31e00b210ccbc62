"""What bench/appliance_shapes.py runs on an appliance: a VM's run that holds its place until released.

    python bench/appliance_hold.py in-process --pool P --limit N   # a worker running flow runs in its own loop
    python bench/appliance_hold.py serve --limit N                 # hold-vm served by a Runner (flow.serve)
    python bench/appliance_hold.py task-worker --limit N           # hold-vm-task served by a task worker

The run imports what a VM's replication run imports (the wave's flows, pyVmomi, the Azure SDKs, pandas), so
that a process per run costs here what it would cost in production; then it waits for the release file
(VMSHIFT_BENCH_RELEASE) to exist.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio.abc
from prefect import flow, task
from prefect.client.schemas.objects import FlowRun
from prefect.flow_engine import run_flow_async
from prefect.flows import load_flow_from_entrypoint
from prefect.workers.base import BaseJobConfiguration, BaseWorker, BaseWorkerResult

import flows.migrate_wave  # noqa: F401  # what a VM's run loads

RELEASE_POLL_S = 0.5


async def _until_released() -> None:
    release = Path(os.environ["VMSHIFT_BENCH_RELEASE"])
    while not release.exists():
        await asyncio.sleep(RELEASE_POLL_S)


@flow(name="hold-vm", flow_run_name="hold-{vm}")
async def hold_vm(vm: str) -> str:
    """A VM's run in flight: it holds its place (memory, connections, heartbeats) until released."""
    await _until_released()
    return vm


@task(name="hold-vm-task")
async def hold_vm_task(vm: str) -> str:
    await _until_released()
    return vm


class InProcessResult(BaseWorkerResult):
    pass


class InProcessWorker(BaseWorker):
    """A worker that runs each flow run of its queues as a task of its own event loop, not in a process."""

    type = "vmshift-in-process"
    job_configuration = BaseJobConfiguration

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flows: dict[str, Any] = {}

    async def run(
        self, flow_run: FlowRun, configuration: BaseJobConfiguration,
        task_status: anyio.abc.TaskStatus[str] | None = None,
    ) -> InProcessResult:
        deployment = await self.client.read_deployment(flow_run.deployment_id)
        if deployment.entrypoint not in self._flows:  # loading from a path imports the module anew each time
            self._flows[deployment.entrypoint] = load_flow_from_entrypoint(deployment.entrypoint)
        loaded = self._flows[deployment.entrypoint]
        if task_status is not None:
            task_status.started(f"{os.getpid()}:{flow_run.id}")
        state: Any = await run_flow_async(loaded, flow_run=flow_run, parameters=flow_run.parameters,
                                          return_type="state")
        return InProcessResult(identifier=str(flow_run.id), status_code=0 if not state.is_crashed() else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["in-process", "serve", "task-worker"])
    parser.add_argument("--pool", default="bench-in-process")
    parser.add_argument("--limit", type=int, required=True)
    args = parser.parse_args()
    if args.shape == "serve":
        hold_vm.serve(name="serve", limit=args.limit, print_starting_message=False)
    elif args.shape == "task-worker":
        from prefect.task_worker import serve

        asyncio.run(serve(hold_vm_task, limit=args.limit))
    else:
        asyncio.run(_in_process(args.pool, args.limit))


async def _in_process(pool: str, limit: int) -> None:
    await InProcessWorker(work_pool_name=pool, limit=limit, name=f"in-process-{os.getpid()}").start()


if __name__ == "__main__":
    main()
