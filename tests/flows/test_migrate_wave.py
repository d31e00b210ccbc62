"""The wave's DAG under Prefect: stage order, failure isolation, concurrency limits, retries.

These tests are about orchestration alone, so the library steps are local stand-ins (tests/flows/local_steps.py);
the same flows against the lab's servers are in test_wave_lab.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from local_steps import LocalSteps, latest_artifact, wave_of
from prefect import tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType, TaskRun
from prefect.states import Cancelling

import flows.migrate_wave
from cli.command import main
from flows.migrate_wave import migrate_wave
from tasks.slots import ensure_limits
from vmshift.azure.errors import DnsGateFailed
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitKind, limit_name, planned_limits
from vmshift.replication.cycle import CycleStopped
from vmshift.schedule import BlackoutWindow

pytestmark = pytest.mark.usefixtures("prefect_harness")


def run_wave(
    vm_names: list[str], steps: LocalSteps, appliance: Appliance | None = None, marker: str | None = None
) -> tuple[dict, str]:
    """Run a wave under a tag of its own; returns its result and the tag to find its runs by."""
    marker = marker or f"test-{uuid.uuid4().hex[:8]}"
    with tags(marker):
        result = asyncio.run(migrate_wave(wave_of(marker, vm_names), appliance or Appliance(name=marker)))
    return result, marker


def task_runs(marker: str, name: str) -> list[TaskRun]:
    async def read() -> list[TaskRun]:
        async with get_client() as client:
            return await client.read_task_runs(task_run_filter=TaskRunFilter(tags=TaskRunFilterTags(all_=[marker])))
    return [run for run in asyncio.run(read()) if run.name.startswith(f"{name}-")]


def flow_runs(marker: str) -> list[FlowRun]:
    async def read() -> list[FlowRun]:
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[marker])))
    return asyncio.run(read())


def cancel_when_running(marker: str, run_name: str, then: Callable[[], None] = lambda: None) -> threading.Thread:
    """What the UI's Cancel button does to one VM's run, from another thread once that run is Running."""
    async def cancel() -> None:
        async with get_client() as client:
            for _ in range(600):
                runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[marker]), name=FlowRunFilterName(any_=[run_name])))
                if runs and runs[0].state_type == StateType.RUNNING:
                    await client.set_flow_run_state(runs[0].id, Cancelling(message="cancelled in the UI"))
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"{run_name} never ran")

    def run() -> None:
        try:
            asyncio.run(cancel())
        finally:
            then()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def outcomes(result: dict) -> dict[str, str]:
    return {row["vm"]: row["outcome"] for row in result["vms"]}


def test_no_replication_starts_before_the_dns_gate_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    vms = ["vm-a", "vm-b", "vm-c"]
    steps = LocalSteps(monkeypatch, vms)
    result, marker = run_wave(vms, steps)
    assert outcomes(result) == dict.fromkeys(vms, "protected")
    order = [step for step, _ in steps.calls]
    assert order[:4] == ["permissions", "endpoint", "dns", "gate"]  # asked before anything is built
    assert sorted(order[4:]) == ["cycle"] * 3
    gate_end = max(run.end_time for run in task_runs(marker, "dns-gate"))
    assert all(run.start_time >= gate_end for run in task_runs(marker, "replication-cycle"))


def test_a_failing_dns_gate_blocks_its_vms_and_replicates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a", "vm-b"])

    def public(account: str) -> None:
        raise DnsGateFailed("public-address", f"{account}.blob.core.windows.net resolves to a public address")
    steps.gate = public
    result, _ = run_wave(["vm-a", "vm-b"], steps)
    assert outcomes(result) == {"vm-a": "blocked", "vm-b": "blocked"}
    assert "resolves to a public address" in result["vms"][0]["error"]
    assert not [call for call in steps.calls if call[0] == "cycle"]


def test_a_blackout_window_holds_the_initial_replication_until_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a", "vm-b"])
    held: list[datetime] = []

    async def hold(moment: datetime) -> None:  # the wait itself, recorded instead of slept
        held.append(moment)
        steps.record("hold", moment.isoformat())
    monkeypatch.setattr(flows.migrate_wave, "hold_until", hold)
    now = datetime.now(UTC)
    window = f"daily {now - timedelta(minutes=5):%H:%M}-{now + timedelta(minutes=5):%H:%M}"
    marker = f"test-{uuid.uuid4().hex[:8]}"
    with tags(marker):
        result = asyncio.run(migrate_wave(wave_of(marker, ["vm-a", "vm-b"]), Appliance(name=marker),
                                          blackout_windows=[window]))

    assert outcomes(result) == {"vm-a": "protected", "vm-b": "protected"}
    assert len(held) == 1 and held[0] == BlackoutWindow.parse(window).end_after(now)
    order = [step for step, _ in steps.calls]
    assert order.index("hold") > order.index("gate") and order.index("hold") < order.index("cycle")


def test_one_vm_failing_does_not_stop_the_others_and_each_vm_shows_in_a_run_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vms = ["vm-a", "vm-b", "vm-c", "vm-d"]
    steps = LocalSteps(monkeypatch, vms)
    normal = steps.cycle

    def cycle(vm: str) -> dict:
        if vm == "vm-b":
            raise RuntimeError("datastore ds-nfs-02 went read-only")
        return normal(vm)
    steps.cycle = cycle
    result, marker = run_wave(vms, steps)
    assert outcomes(result) == {"vm-a": "protected", "vm-b": "failed", "vm-c": "protected", "vm-d": "protected"}
    failed = next(row for row in result["vms"] if row["vm"] == "vm-b")
    assert "datastore ds-nfs-02 went read-only" in failed["error"]
    table = json.loads(latest_artifact(f"wave-{marker}").data)
    assert [(row["vm"], row["outcome"]) for row in table] == [(vm, outcomes(result)[vm]) for vm in vms]

    runs = flow_runs(marker)
    wave = next(run for run in runs if run.name == f"migrate-{marker}")
    subflows = {run.name: run for run in runs if run.id != wave.id}
    assert {name: run.state_type.value for name, run in subflows.items()} == {
        "replicate-vm-a": "COMPLETED", "replicate-vm-b": "FAILED", "replicate-vm-c": "COMPLETED",
        "replicate-vm-d": "COMPLETED"}
    parents = {run.parent_task_run_id for run in subflows.values()}
    assert all(parent is not None for parent in parents)

    async def parent_flow_runs() -> set:
        async with get_client() as client:
            return {(await client.read_task_run(parent)).flow_run_id for parent in parents}
    assert asyncio.run(parent_flow_runs()) == {wave.id}


def test_cancelling_one_vms_run_stops_that_vm_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    vms = ["vm-a", "vm-b", "vm-c"]
    steps = LocalSteps(monkeypatch, vms)
    normal = steps.cycle

    def cycle(vm: str) -> dict:
        if vm != "vm-b":
            return normal(vm)
        if not steps.stops[vm].wait(60):  # a long copy, until the stop request reaches the cycle's thread
            raise AssertionError("the stop request never reached vm-b's cycle")
        raise CycleStopped("the replication cycle of vm-b was stopped on request")
    steps.cycle = cycle
    marker = f"test-{uuid.uuid4().hex[:8]}"
    canceller = cancel_when_running(marker, "replicate-vm-b")
    result, _ = run_wave(vms, steps, marker=marker)
    canceller.join(10)
    assert outcomes(result) == {"vm-a": "protected", "vm-b": "stopped", "vm-c": "protected"}
    assert "stopped on request" in next(row for row in result["vms"] if row["vm"] == "vm-b")["error"]
    assert {run.name: run.state_type.value for run in flow_runs(marker) if run.name.startswith("replicate-")} == {
        "replicate-vm-a": "COMPLETED", "replicate-vm-b": "CANCELLED", "replicate-vm-c": "COMPLETED"}


def test_vmshift_stop_stops_a_vm_waiting_for_a_slot_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a", "vm-b"])
    appliance = Appliance(name=f"appl-{uuid.uuid4().hex[:6]}")
    asyncio.run(ensure_limits(planned_limits([], [], [appliance.name], [], overrides={"vmshift-appliance-disks": 1}),
                              update=True))
    holding, waiter_stopped = threading.Event(), threading.Event()
    normal = steps.cycle

    def cycle(vm: str) -> dict:  # whichever VM took the only slot keeps it until the other has given up
        holding.set()
        assert waiter_stopped.wait(60), "the waiting VM never stopped"
        return normal(vm)
    steps.cycle = cycle
    marker = f"test-{uuid.uuid4().hex[:8]}"
    waiter: list[str] = []
    stopped: list[int] = []  # `vmshift stop`'s exit code

    def cancel_the_waiter() -> None:
        assert holding.wait(60)
        waiter.append("vm-b" if steps.calls[-1] == ("cycle", "vm-a") else "vm-a")
        wait_for_state(marker, f"replicate-{waiter[0]}", StateType.RUNNING)
        stopped.append(main(["stop", "--vm", waiter[0]]))
        wait_for_state(marker, f"replicate-{waiter[0]}")
        waiter_stopped.set()
    threading.Thread(target=cancel_the_waiter, daemon=True).start()
    result, _ = run_wave(["vm-a", "vm-b"], steps, appliance, marker=marker)
    holder = next(vm for vm in ("vm-a", "vm-b") if vm != waiter[0])
    assert stopped == [0]
    assert outcomes(result) == {holder: "protected", waiter[0]: "stopped"}
    assert ("cycle", waiter[0]) not in steps.calls
    assert main(["stop", "--vm", waiter[0]]) == 1  # nothing in flight any more: said, not a traceback


def wait_for_state(marker: str, run_name: str, state: StateType = StateType.CANCELLED) -> None:
    async def wait() -> None:
        async with get_client() as client:
            for _ in range(600):
                runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[marker]), name=FlowRunFilterName(any_=[run_name])))
                if runs and runs[0].state_type == state:
                    return
                await asyncio.sleep(0.1)
    asyncio.run(wait())


def test_a_vms_progress_artifact_shows_its_cycle_moving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flows.migrate_wave, "PROGRESS_S", 0.2)
    steps = LocalSteps(monkeypatch, ["vm-p"])
    normal, seen = steps.cycle, []

    def cycle(vm: str) -> dict:  # halfway, the UI shows 42 % before the cycle ends
        steps.progress[vm](42.0)
        for _ in range(100):
            seen.append(latest_artifact(f"replication-{vm}").data)
            if seen[-1] == 42.0:
                break
            time.sleep(0.1)
        return normal(vm)
    steps.cycle = cycle
    result, _ = run_wave(["vm-p"], steps)
    assert outcomes(result) == {"vm-p": "protected"}
    assert seen[-1] == 42.0
    assert latest_artifact("replication-vm-p").data == 100.0


def test_a_concurrency_limit_of_2_is_never_exceeded(monkeypatch: pytest.MonkeyPatch) -> None:
    vms = [f"vm-{i}" for i in range(6)]
    steps = LocalSteps(monkeypatch, vms)
    normal, second_in, lock, copying = steps.cycle, threading.Event(), threading.Lock(), [0]

    def cycle(vm: str) -> dict:
        # The first VM keeps its slot until a second one holds the other: subflows start one by one on the
        # harness's SQLite server, and short cycles would otherwise never overlap.
        with lock:
            copying[0] += 1
            if copying[0] >= 2:
                second_in.set()
        second_in.wait(20)
        try:
            return normal(vm)
        finally:
            with lock:
                copying[0] -= 1
    steps.cycle = cycle
    appliance = Appliance(name=f"appl-{uuid.uuid4().hex[:6]}")
    limits = planned_limits([], [], [appliance.name], [], overrides={"vmshift-appliance-disks": 2})
    asyncio.run(ensure_limits(limits, update=True))
    result, marker = run_wave(vms, steps, appliance)
    assert outcomes(result) == dict.fromkeys(vms, "protected")
    runs = task_runs(marker, "replication-cycle")
    assert len(runs) == 6
    edges = sorted([(run.start_time, 1) for run in runs] + [(run.end_time, -1) for run in runs])
    running, most = 0, 0
    for _, change in edges:
        running += change
        most = max(most, running)
    assert most == 2  # never more than the limit, and the limit was reached: the VMs did run concurrently


def test_as_many_vms_copy_at_once_as_their_slots_allow_not_as_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 VMs on one host of 8 read slots, each cycle a thread: Python's default executor has 6 on 2 cores, and
    # the seventh VM, slots in hand, waited for a thread.
    vms = [f"vm-{i}" for i in range(8)]
    steps = LocalSteps(monkeypatch, vms)
    normal, all_in = steps.cycle, threading.Barrier(len(vms), timeout=60)

    def cycle(vm: str) -> dict:
        all_in.wait()
        return normal(vm)
    steps.cycle = cycle
    asyncio.run(ensure_limits({limit_name(LimitKind.HOST_DISK_READS, "esx-01.lab.local"): len(vms)}, update=True))
    result, _ = run_wave(vms, steps, Appliance(name=f"appl-{uuid.uuid4().hex[:6]}"))
    assert outcomes(result) == dict.fromkeys(vms, "protected"), result


def test_a_transient_fault_is_retried_and_absorbed(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a"])
    normal, attempts = steps.cycle, []

    def reset_once(vm: str) -> dict:
        attempts.append(vm)
        if len(attempts) == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return normal(vm)
    steps.cycle = reset_once
    result, marker = run_wave(["vm-a"], steps)
    assert outcomes(result) == {"vm-a": "protected"}
    assert len(attempts) == 2
    assert task_runs(marker, "replication-cycle")[0].run_count == 2


def test_a_validation_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a"])
    attempts = []

    def invalid(vm: str) -> dict:
        attempts.append(vm)
        raise ValueError("no cache storage account: pass one or set VMSHIFT_CACHE_ACCOUNT")
    steps.cycle = invalid
    result, _ = run_wave(["vm-a"], steps)
    assert outcomes(result) == {"vm-a": "failed"}
    assert attempts == ["vm-a"]


def test_a_vm_that_is_not_ready_is_blocked_with_its_reason_and_the_others_go_on(monkeypatch) -> None:
    steps = LocalSteps(monkeypatch, ["vm-a"])  # vm-ghost is not in the inventory
    result, _ = run_wave(["vm-a", "vm-ghost"], steps)
    assert outcomes(result) == {"vm-a": "protected", "vm-ghost": "blocked"}
    assert result["vms"][1]["error"] == "not found in the vCenter inventory"
    ghost = steps.state("vm-ghost")
    assert (ghost.phase, ghost.history[-1].step, ghost.history[-1].note) == (
        "blocked", "block", "not found in the vCenter inventory")
