"""A wave of more than 200 VMs dispatched to appliances learns every VM's outcome: the server answers a read of
flow runs with 200 at most, whatever its filter names, and bench/scale.py's wave of 500 VMs waited for ever on
the 300 runs it never saw, all Completed (docs/scale-out.md, "At the issue's sizes")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Completed, Running, State

from flows import dispatch
from flows.stop import RUNS_PER_READ, runs_by_id

pytestmark = pytest.mark.usefixtures("prefect_harness")
WAVE = RUNS_PER_READ + 50


@flow(name="runs-by-id-test")
def one_vm() -> None:
    """Stands for a VM's run: the runs are made through the API, never run."""


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
        rows = await asyncio.wait_for(dispatch._outcomes_when_final(vms), timeout=120)
        assert [row["vm"] for row in rows] == list(vms)
        assert {row["outcome"] for row in rows} == {"protected"}
    asyncio.run(check())
