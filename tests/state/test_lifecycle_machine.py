"""Random sequences of every command against one VM's lifecycle, with what vCenter and Azure would hold of it.

Each rule is a command as a migration team runs it, in any order and as often as hypothesis likes: it asks the
lifecycle before it acts, acts only when allowed, and takes the steps its outcome leads to. After every step: the
phase is one the graph reaches and every change was an edge of it; no phase went backwards except through a
rollback, a resync or a failed cutover undoing itself; a refused command changed nothing; and the phase agrees
with the world (no test VM unless test-migrated, no target VM and no source off unless cut over, no snapshot of
ours left, no delta cycle scheduled for a VM that was cut over).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from vmshift.state import lifecycle
from vmshift.state.document import Claim, CycleInProgress, LastCycle, RecoveryPoint, VmState
from vmshift.state.lifecycle import Actor, LifecycleRefused, Phase, Step
from vmshift.state.status import delta_scheduled

T0 = dt.datetime(2026, 12, 5, 22, 0, tzinfo=dt.UTC)

# How far along its migration a VM is, as a migration team reads it; written here, apart from the module, so that
# a table that moves a VM back by accident is caught. Failed and stopped hold the VM where it was: before its first
# recovery point, or after it.
STAGE = {Phase.DISCOVERED: 0, Phase.BLOCKED: 0, Phase.REPLICATING: 1, Phase.PROTECTED: 2, Phase.TEST_MIGRATED: 2,
         Phase.ROLLED_BACK: 2, Phase.CUTTING_OVER: 3, Phase.MIGRATED: 4, Phase.COMPLETED: 5}
# A rollback, an explicit resync, and a cutover that failed before the target VM existed (it undoes itself).
BACK = {Step.ROLLBACK, Step.RESYNC, Step.CUTOVER_FAILED}
CUT_OVER = {Phase.CUTTING_OVER, Phase.MIGRATED, Phase.COMPLETED}
# The README's promise: delta cycles leave these alone (a stopped VM waits for `vmshift replicate`).
LEFT_ALONE = {Phase.DISCOVERED, Phase.BLOCKED, Phase.STOPPED, *CUT_OVER}
STOPPED_NOTE = "CycleStopped: stopped on request"
DEAD_PID = 2**22 + 7  # above Linux's largest pid: no process has it


def stage(state: VmState) -> int:
    if state.phase in (Phase.FAILED, Phase.STOPPED):
        return 2 if state.recovery_points else 1
    return STAGE[state.phase]


@dataclass
class World:
    """What vCenter and ARM hold of the VM, as the commands leave them."""

    source_on: bool = True
    our_snapshot: bool = False
    cbt: bool = False
    test_vm: bool = False
    target_vm: bool = False


class OneVmLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = VmState(vm="win-sql-01")
        self.world = World()
        self.clock = T0
        self.cycles = 0
        self.running: Actor | None = None  # the actor whose replication cycle runs now

    # The check every command makes before it acts, and the steps it takes --------------------------------------

    def allowed(self, step: Step) -> bool:
        """The command asks before it acts; refused, it does nothing and the document is as it was."""
        before = self.state.model_dump()
        try:
            lifecycle.next_phase(self.state, step)
        except LifecycleRefused as refused:
            assert refused.phase == self.state.phase and refused.vm == self.state.vm
            assert str(refused).startswith(f"{step} of win-sql-01 refused: ")
            assert self.state.model_dump() == before
            return False
        assert self.state.model_dump() == before
        return True

    def take(self, step: Step, actor: Actor, note: str | None = None) -> None:
        """A step the command was allowed, or one its outcome leads to: it must never be refused."""
        before, was = stage(self.state), self.state.phase
        expected = lifecycle.next_phase(self.state, step)
        self.clock += dt.timedelta(minutes=7)
        assert lifecycle.advance(self.state, step, actor, note=note, at=self.clock) == expected == self.state.phase
        assert (was, step, self.state.phase) in lifecycle.edges()
        assert stage(self.state) >= before or step in BACK, f"{step} took {was} back to {self.state.phase}"

    def try_step(self, step: Step, actor: Actor) -> bool:
        """Ask and take at once (a cycle's start, a cutover's start); refused, nothing changed."""
        before = self.state.model_dump()
        try:
            lifecycle.advance(self.state, step, actor)
        except LifecycleRefused:
            assert self.state.model_dump() == before
            return False
        self.state = VmState.model_validate(before)  # taken again through take(), which checks the move
        self.take(step, actor)
        return True

    def start_cycle(self, actor: Actor, was: Phase) -> None:
        """A replication cycle whose start was allowed: its claim and a snapshot of ours. A VM it takes out of
        stopped or blocked is neither any more: the note saying so goes (a failure's error stays until a cycle
        succeeds)."""
        self.cycles += 1
        self.world.our_snapshot = self.world.cbt = True
        self.state.in_progress = CycleInProgress(cycle=self.cycles, kind="delta", started_at=self.clock, claim=Claim(
            run_id=actor.run or actor.command, host=socket.gethostname(), pid=os.getpid(), heartbeat_at=self.clock))
        if was in (Phase.STOPPED, Phase.BLOCKED):
            self.state.error = None
        self.running = actor

    def end_cycle(self, outcome: str) -> None:
        """Its snapshot removed, then a recovery point, an error, or a stop; killed, it leaves its claim and
        snapshot behind, for the next cycle to resume from and remove."""
        actor, self.running = self.running, None
        assert actor is not None
        if outcome == "killed":
            self.state.in_progress.claim.pid = DEAD_PID
            return
        self.world.our_snapshot = False
        self.state.in_progress = None
        if outcome == "done":
            self.state.recovery_points.append(RecoveryPoint(cycle=self.cycles, created_at=self.clock,
                                                            blob_snapshots={"2000": f"s{self.cycles}"},
                                                            change_ids={"2000": f"52 1c/{self.cycles}"}))
            self.state.last_cycle = LastCycle(cycle=self.cycles, kind="delta", finished_at=self.clock, seconds=60,
                                              bytes_sent=1, changed_bytes=1)
            self.state.error = None
            self.take(Step.CYCLE_DONE, actor)
        elif outcome == "failed":
            self.state.error = "ConnectionResetError: the datastore went away"
            self.take(Step.CYCLE_FAILED, actor, note=self.state.error)
        else:
            self.state.error = STOPPED_NOTE
            self.take(Step.STOP, actor, note=self.state.error)

    # The commands ------------------------------------------------------------------------------------------------

    @rule(blocking=st.sampled_from([False, False, False, True]))
    def plan_upload_then_the_waves_readiness(self, blocking: bool) -> None:
        if self.allowed(Step.PLAN_UPLOAD):
            self.take(Step.PLAN_UPLOAD, Actor("vmshift plan upload"))
        if blocking and self.allowed(Step.BLOCK):
            self.state.error = "1 existing snapshot(s) keep CBT from being enabled"
            self.take(Step.BLOCK, Actor("migrate-wave", run="run-wave"), note=self.state.error)

    # A second cycle of a VM whose cycle runs is refused by its claim (cycle.py), before the lifecycle is asked.
    @precondition(lambda self: self.running is None)
    @rule(how=st.sampled_from([Step.REPLICATE] * 4 + [Step.RESYNC, "stopped while waiting for its slots"]))
    def replicate(self, how: Step | str) -> None:
        actor, was = Actor("vmshift replicate", by="ana@laptop"), self.state.phase
        if how is Step.RESYNC:
            actor = Actor("vmshift replicate --resync", by="ana@laptop")
        elif not isinstance(how, Step):  # the wave's run, cancelled before it got its slots
            if self.allowed(Step.REPLICATE):
                self.state.error = STOPPED_NOTE
                self.take(Step.STOP, Actor("replicate-vm", run="run-wave"), note=STOPPED_NOTE)
            return
        if self.try_step(how, actor):
            self.start_cycle(actor, was)

    @rule()
    def delta_sync(self) -> None:
        if not delta_scheduled(self.state):
            return
        assert self.running is None, "delta-sync picked a VM whose cycle runs"
        assert self.state.phase not in LEFT_ALONE, f"delta-sync picked a {self.state.phase} VM"
        actor = Actor("delta-sync", run="run-delta")
        was = self.state.phase
        self.take(Step.DELTA_CYCLE, actor)  # delta-sync picks only VMs the lifecycle lets it cycle
        self.start_cycle(actor, was)

    @precondition(lambda self: self.running is not None)
    @rule(outcome=st.sampled_from(["done"] * 4 + ["failed", "stopped", "killed"]))
    def the_running_cycle_ends(self, outcome: str) -> None:
        self.end_cycle(outcome)

    @rule(built=st.sampled_from([True, True, True, False]))
    def test_migrate(self, built: bool) -> None:
        if self.allowed(Step.TEST_MIGRATE) and built:  # a failed build leaves no VM and no phase change
            self.world.test_vm = True
            self.take(Step.TEST_MIGRATE, Actor("test-migrate", run="run-test"))

    @rule()
    def cleanup_test(self) -> None:
        if self.allowed(Step.CLEANUP_TEST):
            self.world.test_vm = False
            self.take(Step.CLEANUP_TEST, Actor("cleanup-test", run="run-clean"))

    @rule(outcome=st.sampled_from(["done"] * 4 + ["final delta failed", "build failed", "killed",
                                                  "killed after build"]), leave_source_running=st.booleans())
    def cutover(self, outcome: str, leave_source_running: bool) -> None:
        actor = Actor("cutover", run=f"run-cut-{self.cycles}")
        if not self.try_step(Step.CUTOVER, actor):
            return
        # Its final delta would be refused by the running cycle's claim, after the source was shut down for nothing.
        assert self.running is None, "a cutover began while a replication cycle of the VM runs"
        if self.world.target_vm:  # a rerun after a run that built the VM and died: found, nothing touched
            self.take(Step.CUTOVER_DONE, actor)
            return
        self.world.source_on = self.world.source_on and leave_source_running
        if outcome == "killed":
            return
        self.take(Step.FINAL_DELTA, actor)
        self.start_cycle(actor, Phase.CUTTING_OVER)
        self.end_cycle("failed" if outcome == "final delta failed" else "done")
        if outcome in ("final delta failed", "build failed"):
            self.world.source_on = True
            self.take(Step.CUTOVER_FAILED, actor, note="the cutover failed; its source was powered on again")
            return
        self.world.target_vm = True
        if outcome == "done":
            self.take(Step.CUTOVER_DONE, actor)

    @rule()
    def a_cutover_its_gates_refuse_restarts_a_source_an_earlier_run_left_off(self) -> None:
        """The cutover flow, refused by a gate that is not the lifecycle's (its window, a stale delta), powers on
        a source that a killed run shut down, unless that run built the target VM (the next run finds it)."""
        if self.state.phase is Phase.CUTTING_OVER and not self.world.source_on and not self.world.target_vm:
            self.world.source_on = True
            self.take(Step.CUTOVER_FAILED, Actor("cutover", run="run-cut-refused"),
                      note="an earlier cutover run died; its source was powered on again")

    @rule()
    def rollback(self) -> None:
        if self.allowed(Step.ROLLBACK):
            self.world.target_vm, self.world.source_on = False, True
            self.take(Step.ROLLBACK, Actor("rollback", run="run-back"))

    @rule(delete_cache_blobs=st.booleans())
    def complete(self, delete_cache_blobs: bool) -> None:
        if self.allowed(Step.COMPLETE):
            self.world.cbt = self.world.our_snapshot = False
            if delete_cache_blobs:
                self.state.recovery_points = []
            self.take(Step.COMPLETE, Actor("complete-migration", run="run-complete"))

    # After every step --------------------------------------------------------------------------------------------

    @invariant()
    def the_phase_is_reachable_and_its_history_says_how(self) -> None:
        assert self.state.phase in lifecycle.reachable()
        if self.state.history:
            assert self.state.history[-1].phase == self.state.phase
        for change in self.state.history:
            assert (change.previous, change.step, change.phase) in lifecycle.edges()

    @invariant()
    def the_phase_agrees_with_vcenter_and_azure(self) -> None:
        phase, world = self.state.phase, self.world
        assert world.test_vm == (phase == Phase.TEST_MIGRATED), (phase, world)
        assert not world.target_vm or phase in CUT_OVER, (phase, world)
        assert world.target_vm or phase not in (Phase.MIGRATED, Phase.COMPLETED), (phase, world)
        assert world.source_on or phase in CUT_OVER, (phase, world)
        assert not world.our_snapshot or self.state.in_progress is not None  # a cycle runs, or died and resumes
        assert not (phase == Phase.COMPLETED and world.cbt)
        assert not delta_scheduled(self.state) or (world.source_on and not world.target_vm), (phase, world)

    @invariant()
    def the_phase_says_how_replication_goes(self) -> None:
        assert (self.state.phase != Phase.PROTECTED or self.state.error is None), self.state.error
        assert (self.state.phase != Phase.FAILED or self.state.error is not None)
        assert not (self.running and delta_scheduled(self.state)), "a running cycle is due again"

    @precondition(lambda self: self.state.phase == Phase.COMPLETED)
    @rule()
    def replicate_a_completed_vm_as_the_issue_did(self) -> None:
        before = self.state.model_dump()
        assert not self.try_step(Step.REPLICATE, Actor("vmshift replicate"))
        assert self.state.model_dump() == before


OneVmLifecycle.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
test_random_commands_keep_one_vm_on_its_lifecycle = OneVmLifecycle.TestCase


def test_the_steps_that_go_back_are_the_ones_this_test_allows() -> None:
    assert lifecycle.GOES_BACK == BACK
