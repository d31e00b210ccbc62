"""An appliance takes a few runs from each poll and submits a few at a time, however many it has room for.

Its submissions share one Prefect client of 16 connections, and a request that waits past the client's pool
timeout can leak one of them for good (encode/httpcore#1093). bench/scale.py, 500 VMs to one appliance of
`--limit 300`: all 16 leaked, 253 runs stuck Pending or Scheduled and the appliance idle. And the appliances of a
vCenter share its VMs by turns, not the first to poll taking all it has room for (docs/scale-out.md, "An
appliance's client")."""

from __future__ import annotations

import uuid

import anyio
import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.workers.base import BaseWorker

from flows.appliance import SUBMITS_AT_ONCE, TAKEN_PER_POLL, ApplianceWorker
from flows.dispatch import POOL

TAKEN_AT_ONCE = 300  # what one poll may hand an appliance of `--limit 300`


class SubmissionsSeen:
    """Stands in for Prefect's submission of one run (its API calls): how many were under way at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.done = 0

    async def submit(self, flow_run: FlowRun) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await anyio.sleep(0.01)
        self.now -= 1
        self.done += 1


def test_an_appliance_taking_300_runs_at_once_submits_fewer_at_a_time_than_its_client_has_connections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = SubmissionsSeen()
    monkeypatch.setattr(BaseWorker, "_submit_run", seen.submit)
    worker = ApplianceWorker(work_pool_name=POOL, name="appliance-t1", limit=TAKEN_AT_ONCE)

    async def take_all() -> None:
        async with anyio.create_task_group() as runs:
            for _ in range(TAKEN_AT_ONCE):
                runs.start_soon(worker._submit_run, FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="r"))

    anyio.run(take_all)
    assert seen.done == TAKEN_AT_ONCE
    assert seen.most == SUBMITS_AT_ONCE < 16


def test_an_appliance_with_room_for_300_runs_takes_a_few_from_each_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    scheduled = [object() for _ in range(TAKEN_AT_ONCE)]  # what the server answers a poll: every run of its queues

    async def poll(worker: BaseWorker) -> list:
        return scheduled

    monkeypatch.setattr(BaseWorker, "_get_scheduled_flow_runs", poll)
    worker = ApplianceWorker(work_pool_name=POOL, name="appliance-t1", limit=TAKEN_AT_ONCE)
    taken = anyio.run(worker._get_scheduled_flow_runs)
    assert taken == scheduled[:TAKEN_PER_POLL]
    assert TAKEN_PER_POLL < TAKEN_AT_ONCE
