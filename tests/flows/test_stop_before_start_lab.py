"""`vmshift stop` landing on a VM's run in the moment between the run's creation and its start (seen once in
test_lifecycle_lab.py, seed 2049: the stop of both VMs arrived while the wave created one VM's `replicate-vm` run).
Prefect then refuses the run Running and none of the flow's code runs; the VM must read as stopped everywhere all
the same: the wave's row, its state document, `vmshift status`, the run Cancelled; and resume like any stopped VM.

The moment is made, not waited for: the stop is asked when the flow engine names the run, the last thing it does
before it asks for Running. The `delta-cycle` run has no parent here, its engine in this process, as on an appliance.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from local_steps import wave_of
from prefect import tags
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType

from cli.command import main
from flows.delta_sync import delta_cycle
from flows.migrate_wave import migrate_wave
from vmshift.lab.guest import write_guest
from vmshift.migration import connections
from vmshift.migration.appliance import Appliance
from vmshift.state.lifecycle import Phase, Step
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
VM = "life-stop-01"  # planned like the example plan's web-rhel-02, in vmshiftcache01
BEFORE_CYCLE = "stopped on request before its replication cycle began: its run copied nothing of life-stop-01"


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


def assert_stopped_and_whole(run: FlowRun, capsys: pytest.CaptureFixture) -> None:
    """The run Cancelled, the VM stopped by it as its state and `vmshift status` say, nothing of ours in vCenter."""
    assert run.state_type is StateType.CANCELLED and run.state.message.startswith(BEFORE_CYCLE), run.state
    state = StateStore.for_account(CACHE).load(VM).state
    stop = state.history[-1]
    assert (state.phase, stop.step, stop.run) == (Phase.STOPPED, Step.STOP, str(run.id)), state.history[-2:]
    assert state.error == stop.note and state.error.startswith(f"CycleStopped: {BEFORE_CYCLE}"), state.error
    assert state.in_progress is None or state.in_progress.claim is None
    source = inventory.find_vm(connect(VCenterConfig.from_env()), VM)
    assert snapshots.find_snapshots(source, inventory.OWN_SNAPSHOT_PREFIX) == []
    capsys.readouterr()
    assert main(["status", "--vm", VM, "--cache-account", CACHE, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [(row["name"], row["phase"]) for row in shown["vms"]] == [(VM, "stopped")]


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
