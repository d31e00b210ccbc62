"""A batch's VMs' runs carry no appliance tag, so the lost-appliance automation never crashes them: the wave does,
as soon as it sees their batch Crashed, and leaves alone the runs the batch's next attempt makes; the UI must not
show a lost VM's run Running for ever (flows/dispatch.py, `_crash_lost_vms`)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prefect import flow, task
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Completed, Crashed, Running

from flows import dispatch

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow(name="lost-batch-test")
def one_run() -> None:
    """Stands for a batch's run and its VMs' runs: they are made through the API, never run."""


@task(name="replicate-vm")
def tracking() -> None:
    """Stands for the task run that links a VM's run to its batch."""


async def _vm_run(client: PrefectClient, batch: uuid.UUID, vm: str, key: int, state) -> uuid.UUID:
    linking = await client.create_task_run(tracking, flow_run_id=batch, dynamic_key=str(key), name=vm)
    return (await client.create_flow_run(one_run, name=f"replicate-{vm}", parent_task_run_id=linking.id,
                                         state=state)).id


def test_the_wave_crashes_a_crashed_batchs_unfinished_vm_runs_and_not_its_next_attempts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "POLL_S", 0.1)
    monkeypatch.setattr(dispatch, "CRASHED_FINAL_AFTER_S", 1.0)

    async def check() -> tuple[dict[str, StateType], str | None, StateType]:
        async with get_client() as client:
            batch = (await client.create_flow_run(one_run, name="replicate-vms-vm-a+2", state=Running())).id
            done = await _vm_run(client, batch, "vm-a", 0, Completed())
            lost = [await _vm_run(client, batch, vm, key, Running()) for key, vm in ((1, "vm-b"), (2, "vm-c"))]
            await client.set_flow_run_state(batch, Crashed(message="no heartbeat for 90 s"), force=True)
            # The batch's next attempt, on another appliance, made a new run for vm-b already.
            again = await _vm_run(client, batch, "vm-b", 1_000_001, Running())
            finals = await asyncio.wait_for(dispatch._when_final([batch], dispatch._crash_lost_vms), timeout=60)
            states = {name: (await client.read_flow_run(run)).state for name, run in
                      (("done", done), ("lost-b", lost[0]), ("lost-c", lost[1]), ("again", again))}
        return {name: state.type for name, state in states.items()}, states["lost-c"].message, finals[batch].type

    types, message, batch_final = asyncio.run(check())

    assert types == {"done": StateType.COMPLETED, "lost-b": StateType.CRASHED, "lost-c": StateType.CRASHED,
                     "again": StateType.RUNNING}
    assert message == "its batch run replicate-vms-vm-a+2 was Crashed: no heartbeat for 90 s"
    assert batch_final == StateType.CRASHED


def test_a_batch_run_again_crashes_every_vm_run_its_lost_attempt_left_unfinished() -> None:
    async def check() -> dict[str, StateType]:
        async with get_client() as client:
            batch = (await client.create_flow_run(one_run, name="replicate-vms-vm-a+1", state=Running())).id
            runs = {"done": await _vm_run(client, batch, "vm-a", 0, Completed()),
                    "lost": await _vm_run(client, batch, "vm-b", 1, Running())}
            await dispatch.crash_unfinished(client, await dispatch.every_subflow_of(client, [batch]),
                                            "its appliance was lost")
            return {name: (await client.read_flow_run(run)).state.type for name, run in runs.items()}

    assert asyncio.run(check()) == {"done": StateType.COMPLETED, "lost": StateType.CRASHED}
