"""A wave of more than 200 VMs dispatched to appliances learns every VM's outcome: the server answers a read of
flow runs with 200 at most, whatever its filter names, and bench/scale.py's wave of 500 VMs waited for ever on
the 300 runs it never saw, all Completed (docs/scale-out.md, "At the issue's sizes")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.states import Completed, Running, State

from flows import dispatch
from flows.stop import RUNS_PER_READ, runs_by_id

pytestmark = pytest.mark.usefixtures("prefect_harness")
WAVE = RUNS_PER_READ + 50


@flow(name="runs-by-id-test")
def one_vm() -> None:
    """Stands for a VM's run: the runs are made through the API, never run."""


@task(name="replicate-vm")
def tracking() -> None:
    """Stands for the task run that links a subflow to its parent."""


async def _runs(count: int, state_of: Callable[[int], State]) -> list[uuid.UUID]:
    async with get_client() as client:
        return [(await client.create_flow_run(one_vm, name=f"vm-{index}", state=state_of(index))).id
                for index in range(count)]


def test_every_run_of_a_wave_larger_than_one_read_is_found_and_filtered_by_state() -> None:
    async def check() -> None:
        ids = await _runs(WAVE, lambda index: Completed() if index % 2 else Running())
        async with get_client() as client:
            assert len(await client.read_flow_runs(limit=None)) <= RUNS_PER_READ  # what a plain read answers
            found = await runs_by_id(client, ids)
            completed = await runs_by_id(client, ids, [Completed().type])
        assert sorted(run.id for run in found) == sorted(ids)
        assert sorted(run.id for run in completed) == sorted(ids[1::2])
    asyncio.run(check())


def test_a_dispatched_wave_of_more_vms_than_one_read_gets_every_vms_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "POLL_S", 0.1)

    async def check() -> None:
        ids = await _runs(WAVE, lambda index: Completed())
        vms = {f"vm-{index}": run_id for index, run_id in enumerate(ids)}
        finals = await asyncio.wait_for(dispatch._when_final(list(vms.values())), timeout=120)
        assert sorted(finals) == sorted(ids)
        assert {state.type for state in finals.values()} == {Completed().type}
    asyncio.run(check())


def test_a_batch_of_more_vms_than_one_read_has_each_vms_latest_run_found() -> None:
    """A `replicate-vms` run of 250 VMs, one VM run twice (its batch was run again after its appliance was lost)."""
    async def check() -> None:
        async with get_client() as client:
            batch = (await client.create_flow_run(one_vm, name="replicate-vms-vm-0+249")).id
            names = [f"replicate-vm-{index}" for index in range(WAVE)] + ["replicate-vm-7"]
            made = []
            for index, name in enumerate(names):
                linking = await client.create_task_run(tracking, flow_run_id=batch, dynamic_key=str(index),
                                                        name=f"replicate-vm-{index}")
                made.append((await client.create_flow_run(one_vm, name=name, parent_task_run_id=linking.id,
                                                          state=Completed())).id)
            other = (await client.create_flow_run(one_vm, name="replicate-vms-other")).id
            linking = await client.create_task_run(tracking, flow_run_id=other, dynamic_key="0", name="elsewhere")
            await client.create_flow_run(one_vm, name="replicate-vm-elsewhere", parent_task_run_id=linking.id)
            found = await dispatch.subflows_of(client, [batch])
        assert sorted(found) == sorted(set(names))
        assert found["replicate-vm-7"].id == made[-1]  # the later of its two runs
        assert {found[name].id for name in names[:-1] if name != "replicate-vm-7"} == set(made[:-1]) - {made[7]}
    asyncio.run(check())
