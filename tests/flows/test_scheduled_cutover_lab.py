"""A VM's `cutover_at`, as `vmshift plan upload` schedules it: the cutover run starts on the team's worker at that
time and cuts the VM over; uploading the plan again with another time moves that run, and creates no second one."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from local_steps import EXAMPLE_PLAN
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType

from deployments.upload import upload_plan
from flows.cleanup_test_migration import cleanup_test_migration
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.clients import connect as azure
from vmshift.lab.guest import write_guest
from vmshift.lab.prefect_server import client_environment
from vmshift.lab.process import interrupt
from vmshift.plan.schema import CutoverWindow, WavePlan
from vmshift.plan.validation import validate_plan
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.state.lifecycle import Step
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("cache_reached_privately")]

PROJECT = Path(__file__).parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
CACHE = "vmshiftcache01"
VM = "flow-sched-01"
WAVE = "flow-scheduled"
AHEAD_S = 75  # from the upload to the planned time: more than the worker's prefetch, with room on a busy machine
RUN_TIMEOUT_S = 600
PREFETCH_S = 40


def timed_plan(cutover_at: datetime) -> WavePlan:
    """The example plan's web-rhel-02 row for this test's VM, cut over at `cutover_at` inside an open window;
    the wave's own replication run is scheduled hours ahead, so that the worker runs only the cutover."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    template = next(vm for vm in plan.waves[0].vms if vm.source_vm == "web-rhel-02")  # Linux, one disk
    row = dataclasses.replace(template, wave=WAVE, source_vm=VM, target_vm_name=VM, nics=(), cutover_window=window,
                              application_group=None, cache_storage_account=CACHE, cutover_at=cutover_at)
    wave = dataclasses.replace(plan.waves[0], name=WAVE, vms=(row,), cutover_window=window,
                               start_at=now + timedelta(hours=2))
    return dataclasses.replace(plan, waves=(wave,))


@contextlib.contextmanager
def worker(entry: dict, folder: Path) -> Iterator[None]:
    """`prefect worker start --pool vmshift` in the project folder, as the README says, with the lab's
    environment. It polls every 2 s and takes a run 40 s before its time (Prefect's prefetch, 10 s by default):
    Prefect's server holds the run's start until its scheduled time, so the cutover still starts on time."""
    env = {**os.environ, **client_environment(entry), "PREFECT_HOME": str(folder / "worker-home"),
           "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": str(PREFETCH_S)}
    with (folder / "worker.log").open("wb") as log:
        worker_process = subprocess.Popen([PREFECT, "worker", "start", "--pool", "vmshift", "--type", "process"],
                                   cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield
    finally:
        interrupt(worker_process, grace_s=60)


async def _other_scheduled_runs(keep: str) -> None:
    """Other tests of the session left runs Scheduled for now on this server: the worker would run them too."""
    async with get_client() as client:
        scheduled = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))
        for run in scheduled:
            if str(run.id) != keep and run.state.state_details.scheduled_time <= datetime.now(UTC) + timedelta(
                    hours=1):
                await client.delete_flow_run(run.id)


async def _finished(run_id: str):
    deadline = time.monotonic() + RUN_TIMEOUT_S
    async with get_client() as client:
        while True:
            run = await client.read_flow_run(run_id)
            if run.state.is_final() or time.monotonic() > deadline:
                return run
            await asyncio.sleep(2)


def test_a_scheduled_cutover_starts_at_its_time_on_the_worker_and_cuts_the_vm_over(
        lab: dict, deployed: dict, tmp_path: Path) -> None:
    session = connect(VCenterConfig.from_env())
    write_guest(lab, VM, 0, b"cut over on schedule" * 200)
    replicate_once(VM, session=session, settings=ReplicationSettings(CACHE))
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    [first] = asyncio.run(upload_plan(timed_plan(later)))[0]["cutovers"]
    wave = timed_plan(later).waves[0]
    assert asyncio.run(run_test_migrate(wave))["vms"][0]["outcome"] == "test-migrated"
    assert asyncio.run(cleanup_test_migration(wave))["vms"][0]["outcome"] == "cleaned"

    planned = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=AHEAD_S)
    [moved] = asyncio.run(upload_plan(timed_plan(planned)))[0]["cutovers"]
    assert (moved["flow_run_id"], moved["moved"], moved["created"]) == (first["flow_run_id"], True, False)
    asyncio.run(_other_scheduled_runs(keep=moved["flow_run_id"]))
    with worker(deployed, tmp_path):
        run = asyncio.run(_finished(moved["flow_run_id"]))

    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert run.state_type == StateType.COMPLETED, f"{run.state}\n{log}"
    state = StateStore.for_account(CACHE).load(VM).state
    cut = next(change for change in state.history if change.step == Step.CUTOVER)
    # Taken early by the worker, started on time: Prefect's server (WaitForScheduledTime) rounds the wait to the
    # nearest second, so a run may start up to half a second before its scheduled time.
    on_time = planned - timedelta(seconds=0.5)
    assert run.start_time >= on_time, (run.start_time, planned)
    assert cut.at >= on_time and cut.run == str(run.id), (cut, planned)
    assert state.phase == "migrated"
    assert inventory.find_vm(session, VM).runtime.powerState == "poweredOff"
    assert azure().compute.virtual_machines.get("rg-target", VM).provisioning_state == "Succeeded"
