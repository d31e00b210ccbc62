"""`vmshift stop` landing on a VM's run in the moment between the run's creation and its start (seen once in
test_lifecycle_lab.py, seed 2049: the stop of both VMs arrived while the wave created one VM's `replicate-vm` run).
Prefect then refuses the run Running and none of the flow's code runs; the VM must read as stopped everywhere all
the same: the wave's row, its state document, `vmshift status`, the run Cancelled; and resume like any stopped VM.

The moment is made, not waited for: the stop is asked when the flow engine names the run, the last thing it does
before it asks for Running. The `delta-cycle` run has no parent here, its engine in this process, as on an appliance.

A stop that lands on a `delta-cycle` run while it waits for a replication slot (its appliance's disks all taken)
ends the wait before any cycle of the VM began: the run says so, and so must the VM's state, as a wave's VM's does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest
from local_steps import wave_of
from prefect import State, tags
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.concurrency.asyncio import concurrency

from cli.command import main
from flows.delta_sync import delta_cycle
from flows.migrate_wave import migrate_wave
from tasks import slots
from vmshift.lab.guest import write_guest
from vmshift.migration import connections
from vmshift.migration.appliance import Appliance
from vmshift.migration.limits import LimitKind, limit_name
from vmshift.state.lifecycle import Phase, Step
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.facts import VmFacts

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
VM = "life-stop-01"  # planned like the example plan's web-rhel-02, in vmshiftcache01
BEFORE_CYCLE = "stopped on request before its replication cycle began: its run copied nothing of life-stop-01"
WAITING_VM = "life-stop-02"  # as life-stop-01, for the stop of a cycle waiting for its slots
WAITING = "stopped on request while waiting for a slot of "


class StopAsNamed:
    """`vmshift stop --vm` the moment the engine names one of the `armed` runs, before it asks for Running."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed: set[str] = set()
        self.exit_codes: list[int] = []
        rename = PrefectClient.set_flow_run_name

        async def named(client: PrefectClient, flow_run_id: uuid.UUID, name: str) -> object:
            renamed = await rename(client, flow_run_id, name)
            if name in self.armed:
                self.exit_codes.append(await asyncio.to_thread(main, ["stop", "--vm", VM]))
            return renamed
        monkeypatch.setattr(PrefectClient, "set_flow_run_name", named)


def runs_tagged(marker: str) -> dict[str, FlowRun]:
    async def read() -> list[FlowRun]:
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[marker])))
    return {run.name: run for run in asyncio.run(read())}


def assert_stopped_and_whole(run: FlowRun, capsys: pytest.CaptureFixture, vm: str = VM, message: str = BEFORE_CYCLE
                             ) -> None:
    """The run Cancelled, the VM stopped by it as its state and `vmshift status` say, nothing of ours in vCenter;
    the run and the state say why with `message`."""
    assert run.state_type is StateType.CANCELLED and run.state.message.startswith(message), run.state
    state = StateStore.for_account(CACHE).load(vm).state
    stop = state.history[-1]
    assert (state.phase, stop.step, stop.run) == (Phase.STOPPED, Step.STOP, str(run.id)), state.history[-2:]
    assert state.error == stop.note and state.error.startswith(f"CycleStopped: {message}"), state.error
    assert state.in_progress is None or state.in_progress.claim is None
    source = inventory.find_vm(connect(VCenterConfig.from_env()), vm)
    assert snapshots.find_snapshots(source, inventory.OWN_SNAPSHOT_PREFIX) == []
    capsys.readouterr()
    assert main(["status", "--vm", vm, "--cache-account", CACHE, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [(row["name"], row["phase"]) for row in shown["vms"]] == [(vm, "stopped")]


def test_vmshift_stop_landing_as_a_vms_run_starts_stops_it_everywhere_and_it_resumes_like_any_stopped_vm(
    lab: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    wave, appliance, marker = wave_of("life-stop", [VM]), Appliance(), f"stop-{uuid.uuid4().hex[:8]}"
    stopper = StopAsNamed(monkeypatch)
    write_guest(lab, VM, 1 << 20, b"\x5a" * (1 << 20))

    stopper.armed = {f"replicate-{VM}"}
    with tags(marker):
        stopped = asyncio.run(migrate_wave(wave, appliance))

    assert stopper.exit_codes == [0]
    row = stopped["vms"][0]
    assert (row["vm"], row["outcome"]) == (VM, "stopped") and row["error"].startswith(BEFORE_CYCLE), row
    assert_stopped_and_whole(runs_tagged(marker)[f"replicate-{VM}"], capsys)
    assert StateStore.for_account(CACHE).load(VM).state.recovery_points == []

    stopper.armed = set()  # the wave again: it replicates the VM as for any stopped VM
    resumed = asyncio.run(migrate_wave(wave, appliance))
    assert [(row["vm"], row["outcome"]) for row in resumed["vms"]] == [(VM, "protected")], resumed
    protected = StateStore.for_account(CACHE).load(VM).state
    assert protected.phase is Phase.PROTECTED and len(protected.recovery_points) == 1 and protected.error is None

    # A delta cycle's run, as an appliance runs one that a delta-sync pass dispatched, stopped the same way.
    stopper.armed = {f"delta-{VM}"}
    write_guest(lab, VM, 2 << 20, b"\xa5" * (1 << 20))
    facts = connections.source_facts([VM], {})[VM]
    with tags(marker):
        asyncio.run(delta_cycle(VM, CACHE, facts, return_state=True))
    assert stopper.exit_codes == [0, 0]
    assert_stopped_and_whole(runs_tagged(marker)[f"delta-{VM}"], capsys)
    assert len(StateStore.for_account(CACHE).load(VM).state.recovery_points) == 1

    assert main(["replicate", "--vm", VM, "--cache-account", CACHE]) == 0  # resumed as any stopped VM is
    again = StateStore.for_account(CACHE).load(VM).state
    assert again.phase is Phase.PROTECTED and len(again.recovery_points) == 2 and again.error is None


async def stopped_waiting_for_its_slot(vm: str, facts: VmFacts, full: str, monkeypatch: pytest.MonkeyPatch
                                       ) -> tuple[State, int]:
    """The VM's `delta-cycle` run while the limit `full` (of one slot) is held by another, and `vmshift stop --vm`
    once the run waits for it: the run's final state and the stop's exit code."""
    waiting = asyncio.Event()
    enter = slots._lease_when_free

    async def asked(client: PrefectClient, names: list[str], occupy: int, stop: threading.Event) -> object:
        waiting.set()  # it returns once the slots are free or the run is stopped
        return await enter(client, names, occupy, stop)
    monkeypatch.setattr(slots, "_lease_when_free", asked)
    await slots.ensure_limits({full: 1}, update=True)
    async with concurrency(full, occupy=1, strict=True, lease_duration=slots.SLOT_LEASE_S):
        cycle = asyncio.create_task(delta_cycle(vm, CACHE, facts, return_state=True))
        await asyncio.wait([cycle, asyncio.create_task(waiting.wait())], return_when=asyncio.FIRST_COMPLETED)
        assert waiting.is_set(), await cycle  # it ended without waiting: what it ended in
        stopped = await asyncio.to_thread(main, ["stop", "--vm", vm])
        return await cycle, stopped


@pytest.mark.usefixtures("cache_reached_privately")  # `vmshift replicate` asks the DNS gate
def test_vmshift_stop_of_a_delta_cycle_waiting_for_its_slot_says_stopped_everywhere_and_it_resumes(
    lab: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    write_guest(lab, WAITING_VM, 1 << 20, b"\x3c" * (1 << 20))
    assert main(["replicate", "--vm", WAITING_VM, "--cache-account", CACHE]) == 0  # protected: delta cycles run it
    # An appliance of its own, whose one disk slot another VM's cycle holds: the VM's delta cycle waits for it.
    appliance = f"appliance-stop-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("VMSHIFT_APPLIANCE_NAME", appliance)
    write_guest(lab, WAITING_VM, 2 << 20, b"\xc3" * (1 << 20))
    facts, marker = connections.source_facts([WAITING_VM], {})[WAITING_VM], f"stop-{uuid.uuid4().hex[:8]}"

    with tags(marker):
        state, stopped = asyncio.run(stopped_waiting_for_its_slot(
            WAITING_VM, facts, limit_name(LimitKind.APPLIANCE_DISKS, appliance), monkeypatch))

    assert stopped == 0 and state.is_cancelled() and state.message.startswith(WAITING), state
    assert_stopped_and_whole(runs_tagged(marker)[f"delta-{WAITING_VM}"], capsys, WAITING_VM, WAITING)
    assert len(StateStore.for_account(CACHE).load(WAITING_VM).state.recovery_points) == 1  # nothing of it was cycled

    assert main(["replicate", "--vm", WAITING_VM, "--cache-account", CACHE]) == 0  # resumed as any stopped VM is
    again = StateStore.for_account(CACHE).load(WAITING_VM).state
    assert again.phase is Phase.PROTECTED and len(again.recovery_points) == 2 and again.error is None
