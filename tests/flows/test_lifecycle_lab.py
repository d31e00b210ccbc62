"""A random sequence of the commands a migration team runs, over two VMs, through the real flows on the lab.

Each step is drawn from a fixed seed: replicate (the wave's run), delta (a delta-sync pass), stop (`vmshift stop`'s
request while a replication copies), test-migrate, cleanup-test, cutover, rollback or complete, on one VM or
both, in any order and as often as the draw says (three draws in four among the commands the lifecycle allows, so
that few steps reach every one). Before a step, the VM's state document says whether its phase allows it; after
it, the flow's outcome agrees (refused, or done), the phase is where the lifecycle leads, a refused step left the
document as it was, and what vCenter and ARM hold agrees with the phase: no snapshot of ours, a target VM only
when cut over, a test VM only when test-migrated, the source running unless cut over, CBT off once completed. At
the end, `vmshift replicate` on the VM that was completed is refused saying when and by which run.

Its cost is bounded for CI: one seed, ten steps, small disks (about 3 minutes here). VMSHIFT_LIFECYCLE_SEED runs
another sequence (and VMSHIFT_LIFECYCLE_STEPS a longer one); a failure names the seed and the steps taken.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError
from due_now import DUE_NOW
from local_steps import EXAMPLE_PLAN

import flows.stop
from cli.command import main
from flows.cleanup_test_migration import cleanup_test_migration
from flows.complete_migration import complete_migration
from flows.cutover import cutover
from flows.delta_sync import delta_sync
from flows.migrate_wave import migrate_wave
from flows.rollback import rollback
from flows.stop import NothingToStop, request_stop
from flows.test_migrate import test_migrate as run_test_migrate
from vmshift.azure.clients import connect as connect_azure
from vmshift.azure.naming import target_vm_name
from vmshift.lab.guest import write_guest
from vmshift.migration.appliance import Appliance
from vmshift.migration.target import target_name
from vmshift.plan.schema import CutoverWindow, Wave
from vmshift.plan.validation import validate_plan
from vmshift.state import lifecycle
from vmshift.state.document import VmState
from vmshift.state.lifecycle import Actor, Phase, Step
from vmshift.state.status import delta_scheduled
from vmshift.state.store import StateStore, StoredState
from vmshift.vsphere import inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, connect

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("prefect_harness")]

CACHE = "vmshiftcache01"
VMS = {"life-seq-01": "web-rhel-02", "life-seq-02": "win-sql-01"}  # lab VM → example row it is planned like
SEED = int(os.environ.get("VMSHIFT_LIFECYCLE_SEED", "2049"))  # reaches every command in ten steps
STEPS = int(os.environ.get("VMSHIFT_LIFECYCLE_STEPS", "10"))
COMMANDS = ("replicate", "delta", "stop", "test-migrate", "cleanup-test", "cutover", "rollback", "complete")
# The lifecycle step each command asks for, and the steps its success takes (a cycle ends done; a cutover runs
# its final delta and builds the VM; a stopped replication ends stopped).
ASKS = {"replicate": Step.REPLICATE, "delta": Step.DELTA_CYCLE, "stop": Step.REPLICATE,
        "test-migrate": Step.TEST_MIGRATE, "cleanup-test": Step.CLEANUP_TEST, "cutover": Step.CUTOVER,
        "rollback": Step.ROLLBACK, "complete": Step.COMPLETE}
TAKES = {"replicate": (Step.REPLICATE, Step.CYCLE_DONE), "delta": (Step.DELTA_CYCLE, Step.CYCLE_DONE),
         "stop": (Step.REPLICATE, Step.STOP), "cutover": (Step.CUTOVER, Step.FINAL_DELTA, Step.CUTOVER_DONE)}
DONE = {"replicate": "protected", "delta": "protected", "stop": "stopped", "test-migrate": "test-migrated",
        "cleanup-test": "cleaned", "cutover": "migrated", "rollback": "rolled-back", "complete": "completed"}
CUT_OVER = (Phase.MIGRATED, Phase.COMPLETED)
# The bandwidth cap while a replication is stopped. The cap reserves each write's turn before it is sent, so on
# an idle link a cycle's first write goes at once: the cycle copies a second extent, at STOP_EXTENT (the disks
# are 8 MiB, the other writes in their first 4), whose turn comes 4 to 8 s later. The stop lands in that wait;
# with one extent, the cycle could end first and the walk then took another path.
SLOW_MB_S = "0.25"
STOP_EXTENT = 7 << 20


def lab_wave() -> Wave:
    """The example plan's wave 1 for this test's VMs, their cutover window open now, each cut over on its own."""
    now = datetime.now(UTC)
    plan = validate_plan(EXAMPLE_PLAN, now=now - timedelta(days=1)).raise_for_errors()
    window = CutoverWindow(now - timedelta(hours=1), now + timedelta(hours=3))
    rows = {vm.source_vm: vm for vm in plan.waves[0].vms}
    planned = tuple(dataclasses.replace(rows[template], source_vm=vm, target_vm_name=vm, nics=(), cutover_window=window,
                                        application_group=None, cache_storage_account=CACHE)
                    for vm, template in VMS.items())
    return dataclasses.replace(plan.waves[0], name="life-seq", vms=planned, cutover_window=window)


def allowed(command: str, state: VmState) -> bool:
    """Whether the VM's phase lets the command act on it: what the flow must agree with."""
    if command == "delta":  # due as soon as it may cycle: the pass runs with a minimal interval
        return delta_scheduled(state) and state.last_cycle is not None
    return lifecycle.allows(state, ASKS[command])


def acts(command: str, state: VmState) -> bool:
    """Allowed and doing something: a clean-up where there is no test VM is allowed and does nothing."""
    return allowed(command, state) and (command != "cleanup-test" or state.phase is Phase.TEST_MIGRATED)


def draw_step(draw: random.Random, states: dict[str, VmState]) -> tuple[str, list[str]]:
    """The next command and the VMs it names: three draws in four among the commands that act on one of them."""
    vms = draw.choice([[vm] for vm in VMS] + [list(VMS)])
    acting = [c for c in COMMANDS if any(acts(c, states[vm]) for vm in vms)]
    return draw.choice(acting if acting and draw.random() < 0.75 else COMMANDS), vms


def phase_after(command: str, state: VmState) -> Phase:
    """Where the lifecycle leads the VM when the command succeeds on it."""
    state = state.model_copy(deep=True)
    for step in TAKES.get(command, (ASKS[command],)):
        if step is Step.CYCLE_DONE:
            state.error = None
        lifecycle.advance(state, step, Actor("expected"))
    return state.phase


class Lab:
    """The flows as a migration team runs them on the lab, and what vCenter, ARM and the state documents hold."""

    def __init__(self, lab: dict, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lab, self.monkeypatch = lab, monkeypatch
        self.wave, self.appliance = lab_wave(), Appliance()
        self.rows = {vm.source_vm: vm for vm in self.wave.vms}
        self.store = StateStore.for_account(CACHE)
        self.session = connect(VCenterConfig.from_env())
        self.azure = connect_azure()
        self.guest_writes = 0

    def stored(self, vm: str) -> StoredState:
        return self.store.load(vm)

    def run(self, command: str, vms: list[str]) -> dict[str, str]:
        """The command through its flow; each VM's outcome (`refused` when the flow left it alone)."""
        if command in ("replicate", "stop", "delta"):
            for vm in vms:  # the guests write between cycles: each cycle has something to copy
                if inventory.find_vm(self.session, vm).runtime.powerState != "poweredOn":
                    continue  # cut over, its source off: the command is refused for it, and no guest writes
                self.guest_writes += 1
                write_guest(self.lab, vm, (self.guest_writes % 3) << 20, os.urandom(2 << 20))
                if command == "stop":  # a second extent: its write waits for the cap, and the stop lands then
                    write_guest(self.lab, vm, STOP_EXTENT, os.urandom(1 << 20))
        if command == "replicate":
            result = asyncio.run(migrate_wave(self.subwave(vms), self.appliance))
        elif command == "stop":
            result = self.stop_replication(vms)
        elif command == "delta":
            synced = asyncio.run(delta_sync([CACHE], self.appliance, **DUE_NOW, vms=vms))
            ran = {row["vm"]: row["outcome"] for row in synced["vms"]}
            return {vm: ran.get(vm, "refused") for vm in vms}
        elif command == "test-migrate":
            result = asyncio.run(run_test_migrate(self.wave, vms=vms, appliance=self.appliance))
        elif command == "cleanup-test":
            result = asyncio.run(cleanup_test_migration(self.wave, vms=vms))
        elif command == "cutover":
            result = asyncio.run(cutover(self.wave, vms=vms, appliance=self.appliance, skip_test_migration=True,
                                         shutdown_timeout_s=5))
        elif command == "rollback":
            result = asyncio.run(rollback(self.wave, vms=vms, delete_disks=True))
        else:
            result = asyncio.run(complete_migration(self.wave, vms=vms))
        return {row["vm"]: row["outcome"] for row in result["vms"]}

    def subwave(self, vms: list[str]) -> Wave:
        return dataclasses.replace(self.wave, vms=tuple(self.rows[vm] for vm in vms))

    def stop_replication(self, vms: list[str]) -> dict:
        """The wave's replication of the VMs, each stopped as `vmshift stop --vm` asks once its run is in flight
        (a VM whose phase refuses replication has no run: nothing to stop)."""
        self.monkeypatch.setenv("VMSHIFT_BANDWIDTH_MB_S", SLOW_MB_S)
        self.monkeypatch.setattr(flows.stop, "POLL_S", 0.3)
        try:
            with ThreadPoolExecutor(1) as pool:
                wave = pool.submit(asyncio.run, migrate_wave(self.subwave(vms), self.appliance))
                asked: set[str] = set()
                while not wave.done() and asked != set(vms):
                    for vm in sorted(set(vms) - asked):
                        try:
                            asyncio.run(request_stop(vm))
                            asked.add(vm)
                        except NothingToStop:
                            pass
                    time.sleep(0.2)
                return wave.result(timeout=300)
        finally:
            self.monkeypatch.delenv("VMSHIFT_BANDWIDTH_MB_S")

    def check_world_agrees(self, vm: str, state: VmState) -> None:
        """vCenter and ARM hold what the VM's phase says."""
        phase, row, where = state.phase, self.rows[vm], f"{vm} {state.phase}"
        source = inventory.find_vm(self.session, vm)
        assert snapshots.find_snapshots(source, inventory.OWN_SNAPSHOT_PREFIX) == [], where
        assert (source.runtime.powerState == "poweredOn") == (phase not in CUT_OVER), where
        cbt = {disk.cbt for disk in inventory.vm_disks(source)}
        if phase is Phase.COMPLETED:
            assert cbt == {False}, where
        elif state.recovery_points:  # stopped before its first cycle began, it may have none yet
            assert cbt == {True}, where
        test_name = target_vm_name(vm, row.target_vm_name, (row.os_type or "linux").capitalize(), test=True)
        assert self.vm_exists(row.resource_group, target_name(row)) == (phase in CUT_OVER), where
        assert self.vm_exists(row.resource_group, test_name) == (phase is Phase.TEST_MIGRATED), where
        assert delta_scheduled(state) == (phase in (Phase.PROTECTED, Phase.FAILED, Phase.ROLLED_BACK,
                                                    Phase.TEST_MIGRATED)), where
        assert not state.history or state.history[-1].phase == phase, where

    def vm_exists(self, group: str, name: str) -> bool:
        try:
            self.azure.compute.virtual_machines.get(group, name)
        except ResourceNotFoundError:
            return False
        return True


def test_random_commands_over_two_vms_keep_vcenter_arm_and_the_state_documents_on_their_lifecycle(
    lab: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    world, draw = Lab(lab, monkeypatch), random.Random(SEED)
    taken: list[str] = []  # what a failure shows: the seed and the steps so far
    done: set[str] = set()
    for number in range(STEPS):
        before = {vm: world.stored(vm) for vm in VMS}
        command, vms = draw_step(draw, {vm: stored.state for vm, stored in before.items()})
        taken.append(f"{command} {'+'.join(vms)}")
        where = f"seed {SEED}, step {number + 1}: {'; '.join(taken)}"

        outcomes = world.run(command, vms)

        for vm in vms:
            was, after = before[vm], world.stored(vm)
            if allowed(command, was.state):
                assert outcomes[vm] == DONE[command], (where, outcomes)
                assert after.state.phase == phase_after(command, was.state), (where, after.state.history[-3:])
                if acts(command, was.state):
                    done.add(command)
            else:
                assert outcomes[vm] == "refused", (where, outcomes)
                assert after.etag == was.etag, where  # a refused step changes nothing
            world.check_world_agrees(vm, after.state)

    assert done == set(COMMANDS), f"seed {SEED} never took {set(COMMANDS) - done}: {'; '.join(taken)}"
    completed = [vm for vm in VMS if world.stored(vm).state.phase is Phase.COMPLETED]
    assert completed, f"seed {SEED} completed no VM: {'; '.join(taken)}"

    for vm in completed:  # the case, after a real cutover and completion
        state = world.stored(vm)
        completion = lifecycle.last_change(state.state, Step.COMPLETE)
        capsys.readouterr()
        assert main(["replicate", "--vm", vm]) == 1
        refusal = capsys.readouterr().err
        assert refusal.startswith(f"error: replicate of {vm} refused: migrated and completed at "
                                  f"{completion.at:%Y-%m-%d %H:%M:%S} UTC by run {completion.run} "
                                  "(complete-migration), by "), refusal
        assert refusal.endswith("; replication is finished; to replicate it again, roll back before completion, "
                                "or add a new plan row under another name\n"), refusal
        assert world.stored(vm).etag == state.etag
        world.check_world_agrees(vm, state.state)
