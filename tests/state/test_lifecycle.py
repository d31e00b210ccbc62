"""The lifecycle of one VM: what each step leads to, what it refuses and what the refusal says."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from vmshift.state.document import LastCycle, RecoveryPoint, VmState
from vmshift.state.lifecycle import (
    MAX_HISTORY,
    Actor,
    LifecycleRefused,
    Phase,
    Step,
    advance,
    last_change,
    next_phase,
    reachable,
)

T0 = dt.datetime(2026, 12, 5, 22, 0, tzinfo=dt.UTC)
CLI = Actor("vmshift replicate", by="ana@appliance-01")


def flow(name: str, run: str) -> Actor:
    return Actor(name, run=run, by="prefect@appliance-01")


def replicated(vm: str = "win-sql-01") -> VmState:
    """A VM whose initial replication finished: protected, with a recovery point."""
    state = VmState(vm=vm)
    advance(state, Step.REPLICATE, flow("replicate-vm", "run-wave"), at=T0)
    state.recovery_points.append(RecoveryPoint(cycle=1, created_at=T0, blob_snapshots={"2000": "s1"},
                                               change_ids={"2000": "52 1c/1"}))
    state.last_cycle = LastCycle(cycle=1, kind="initial", finished_at=T0, seconds=60, bytes_sent=1, changed_bytes=1)
    advance(state, Step.CYCLE_DONE, flow("replicate-vm", "run-wave"), at=T0)
    return state


def completed(vm: str = "win-sql-01") -> VmState:
    """The demo's end: test-migrated, cleaned up, cut over and completed."""
    state = replicated(vm)
    for step, actor, hours in ((Step.TEST_MIGRATE, flow("test-migrate", "run-test"), 1),
                               (Step.CLEANUP_TEST, flow("cleanup-test", "run-clean"), 2),
                               (Step.CUTOVER, flow("cutover", "run-cut"), 3),
                               (Step.FINAL_DELTA, flow("cutover", "run-cut"), 3),
                               (Step.CYCLE_DONE, flow("cutover", "run-cut"), 3),
                               (Step.CUTOVER_DONE, flow("cutover", "run-cut"), 3),
                               (Step.COMPLETE, flow("complete-migration", "run-complete"), 4)):
        advance(state, step, actor, at=T0 + dt.timedelta(hours=hours))
    return state


def test_replicate_on_a_completed_vm_is_refused_saying_when_by_which_run_and_what_to_do_instead() -> None:
    state = completed()

    with pytest.raises(LifecycleRefused) as refused:
        next_phase(state, Step.REPLICATE)

    assert str(refused.value) == (
        "replicate of win-sql-01 refused: migrated and completed at 2026-12-06 02:00:00 UTC by run run-complete "
        "(complete-migration), by prefect@appliance-01; replication is finished; to replicate it again, roll back "
        "before completion, or add a new plan row under another name")
    assert (refused.value.phase, refused.value.reached.run) == (Phase.COMPLETED, "run-complete")


def test_a_refused_step_leaves_the_document_exactly_as_it_was() -> None:
    state = completed()
    before = state.model_dump()

    for step in (Step.REPLICATE, Step.DELTA_CYCLE, Step.RESYNC, Step.CUTOVER, Step.ROLLBACK, Step.TEST_MIGRATE):
        with pytest.raises(LifecycleRefused):
            advance(state, step, CLI)

    assert state.model_dump() == before


def test_the_history_keeps_each_phase_change_with_its_run_and_user() -> None:
    state = completed()

    assert [(c.step, c.previous, c.phase, c.run) for c in state.history] == [
        (Step.REPLICATE, Phase.DISCOVERED, Phase.REPLICATING, "run-wave"),
        (Step.CYCLE_DONE, Phase.REPLICATING, Phase.PROTECTED, "run-wave"),
        (Step.TEST_MIGRATE, Phase.PROTECTED, Phase.TEST_MIGRATED, "run-test"),
        (Step.CLEANUP_TEST, Phase.TEST_MIGRATED, Phase.PROTECTED, "run-clean"),
        (Step.CUTOVER, Phase.PROTECTED, Phase.CUTTING_OVER, "run-cut"),
        (Step.CUTOVER_DONE, Phase.CUTTING_OVER, Phase.MIGRATED, "run-cut"),
        (Step.COMPLETE, Phase.MIGRATED, Phase.COMPLETED, "run-complete"),
    ]
    assert {c.by for c in state.history} == {"prefect@appliance-01"}
    assert last_change(state, Step.TEST_MIGRATE).at == T0 + dt.timedelta(hours=1)


def test_delta_cycles_of_a_protected_vm_add_nothing_to_its_history() -> None:
    state = replicated()
    kept = len(state.history)

    for _ in range(50):
        advance(state, Step.DELTA_CYCLE, flow("delta-sync", "run-delta"))
        advance(state, Step.CYCLE_DONE, flow("delta-sync", "run-delta"))

    assert (state.phase, len(state.history)) == (Phase.PROTECTED, kept)


def test_a_vm_whose_cycles_keep_failing_and_recovering_keeps_a_bounded_history_and_its_test_migration() -> None:
    state = replicated()
    advance(state, Step.TEST_MIGRATE, flow("test-migrate", "run-test"))
    advance(state, Step.CLEANUP_TEST, flow("cleanup-test", "run-clean"))

    for _ in range(MAX_HISTORY):
        advance(state, Step.CYCLE_FAILED, flow("delta-sync", "run-delta"), note="ConnectionResetError")
        advance(state, Step.CYCLE_DONE, flow("delta-sync", "run-delta"))

    assert len(state.history) == MAX_HISTORY
    assert last_change(state, Step.TEST_MIGRATE).run == "run-test"
    assert state.history[-1].phase == state.phase == Phase.PROTECTED


def test_a_stopped_vm_resumes_as_protected_once_it_has_a_recovery_point_and_as_replicating_before() -> None:
    never_copied, copied = VmState(vm="db-01"), replicated("db-02")
    advance(never_copied, Step.REPLICATE, CLI)
    for state in (never_copied, copied):
        advance(state, Step.STOP, flow("replicate-vm", "run-wave"), note="CycleStopped: on request")

    assert next_phase(never_copied, Step.REPLICATE) == Phase.REPLICATING
    assert next_phase(copied, Step.REPLICATE) == Phase.PROTECTED
    with pytest.raises(LifecycleRefused, match="delta cycles leave it alone until `vmshift replicate --vm db-02`"):
        next_phase(copied, Step.DELTA_CYCLE)


def test_a_test_migration_cleaned_up_while_replication_fails_leaves_the_vm_failed() -> None:
    state = replicated()
    advance(state, Step.TEST_MIGRATE, flow("test-migrate", "run-test"))
    advance(state, Step.DELTA_CYCLE, flow("delta-sync", "run-delta"))
    state.error = "ConnectionResetError: the datastore went away"
    advance(state, Step.CYCLE_FAILED, flow("delta-sync", "run-delta"))
    assert state.phase == Phase.TEST_MIGRATED  # the test VM still runs

    assert advance(state, Step.CLEANUP_TEST, flow("cleanup-test", "run-clean")) == Phase.FAILED


@pytest.mark.parametrize(("phase_of", "refusal"), [
    (lambda: VmState(vm="app-01"), "not replicated yet; its initial replication has not run"),
    (lambda: _in_test(), "clean the test migration up first (`vmshift cleanup-test --vm app-01`)"),
    (lambda: _after(Step.CYCLE_FAILED), "replication is failing"),
    (lambda: _after(Step.CUTOVER, Step.CUTOVER_DONE), "already cut over: complete the migration, or roll it back"),
])
def test_a_cutover_is_refused_with_the_reason_of_the_vms_phase(phase_of, refusal: str) -> None:
    with pytest.raises(LifecycleRefused, match=re.escape(refusal)):
        next_phase(phase_of(), Step.CUTOVER)


def _in_test() -> VmState:
    return _after(Step.TEST_MIGRATE)


def _after(*steps: Step) -> VmState:
    state = replicated("app-01")
    for step in steps:
        advance(state, step, CLI)
    return state


def test_a_rollback_after_completion_is_refused_and_one_before_it_lets_replication_resume() -> None:
    done = completed()
    with pytest.raises(LifecycleRefused, match="a rollback could not resume it"):
        next_phase(done, Step.ROLLBACK)

    cut = _after(Step.CUTOVER, Step.CUTOVER_DONE)
    advance(cut, Step.ROLLBACK, flow("rollback", "run-back"))
    assert next_phase(cut, Step.DELTA_CYCLE) == Phase.ROLLED_BACK
    advance(cut, Step.DELTA_CYCLE, flow("delta-sync", "run-delta"))
    assert advance(cut, Step.CYCLE_DONE, flow("delta-sync", "run-delta")) == Phase.PROTECTED


def test_a_document_from_before_the_history_is_refused_without_inventing_a_time() -> None:
    old = VmState.model_validate({"schema_version": 2, "vm": "win-sql-01", "phase": "migrated", "cycles": 4})

    with pytest.raises(LifecycleRefused, match=r"migrated and completed \(since before vmshift kept a history"):
        next_phase(old, Step.REPLICATE)


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize("phase", list(Phase))
def test_every_refusal_names_the_phase_and_says_what_to_do(step: Step, phase: Phase) -> None:
    state = VmState(vm="app-01", phase=phase)
    try:
        next_phase(state, step)
    except LifecycleRefused as refused:
        message = str(refused)
        assert message.startswith(f"{step} of app-01 refused: ") and "{" not in message
        assert len(message.split("; ", 1)[1]) > 20, message


def test_a_rollback_of_a_vm_never_cut_over_says_there_is_nothing_to_roll_back() -> None:
    with pytest.raises(LifecycleRefused, match="never cut over, so there is nothing to roll back"):
        next_phase(_in_test(), Step.ROLLBACK)


def test_a_test_migration_needs_a_recovery_point_even_where_its_phase_allows_one() -> None:
    state = VmState(vm="app-01")
    advance(state, Step.REPLICATE, CLI)
    advance(state, Step.CYCLE_FAILED, CLI, note="ConnectionResetError")

    with pytest.raises(LifecycleRefused, match=r"failing to replicate at .*; it has no recovery point yet"):
        next_phase(state, Step.TEST_MIGRATE)


def test_every_phase_can_be_reached_from_discovered() -> None:
    assert reachable() == set(Phase)
