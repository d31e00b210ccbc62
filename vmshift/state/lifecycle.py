"""One lifecycle per VM: its phases, the steps that move it from one to the next, and the one check that every
command and flow makes before it acts.

`next_phase` says where a step leads, or refuses it with `LifecycleRefused`, naming the phase the VM is in, when
and by which run it got there, and what to do instead; `advance` takes the step and keeps the phase change in the
state document's history. No path moves a VM anywhere this table does not say, so the phase a migration team
reads in `vmshift status` is where the VM really is. docs/lifecycle.md is generated from this module
(`python -m vmshift.state.lifecycle --markdown`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from vmshift.state.document import VmState


class Phase(StrEnum):
    DISCOVERED = "discovered"
    BLOCKED = "blocked"
    REPLICATING = "replicating"
    PROTECTED = "protected"
    FAILED = "failed"
    STOPPED = "stopped"
    TEST_MIGRATED = "test-migrated"
    CUTTING_OVER = "cutting-over"
    MIGRATED = "migrated"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"


MEANING: Mapping[Phase, str] = {
    Phase.DISCOVERED: "named in a plan or found in vCenter; nothing replicated yet",
    Phase.BLOCKED: "readiness found a reason it cannot replicate (its error says which); nothing replicated",
    Phase.REPLICATING: "a full copy is under way: its initial replication, or a resync",
    Phase.PROTECTED: "a recovery point exists, and delta cycles keep it recent",
    Phase.FAILED: "its last replication cycle failed; delta cycles try again, resuming from the checkpoints",
    Phase.STOPPED: "replication stopped on request; `vmshift replicate` resumes it from the checkpoints",
    Phase.TEST_MIGRATED: "a test VM built from a recovery point runs in the test VNet; delta cycles go on",
    Phase.CUTTING_OVER: "a cutover began: the source may be shut down and the target VM may not exist yet",
    Phase.MIGRATED: "cut over: the target VM exists in Azure; replication is paused",
    Phase.COMPLETED: "migrated and completed: replication finished, CBT off and snapshots gone on the source",
    Phase.ROLLED_BACK: "the target VM was deleted and the source started again; replication resumes",
}

# How a refusal names the phase: "<label> at <time> by run <id>".
_LABEL: Mapping[Phase, str] = {
    Phase.DISCOVERED: "not replicated yet", Phase.BLOCKED: "blocked by readiness",
    Phase.REPLICATING: "replicating", Phase.PROTECTED: "protected", Phase.FAILED: "failing to replicate",
    Phase.STOPPED: "stopped on request", Phase.TEST_MIGRATED: "test-migrated", Phase.CUTTING_OVER: "being cut over",
    Phase.MIGRATED: "cut over", Phase.COMPLETED: "migrated and completed", Phase.ROLLED_BACK: "rolled back",
}


class Step(StrEnum):
    PLAN_UPLOAD = "plan-upload"
    BLOCK = "block"
    REPLICATE = "replicate"
    DELTA_CYCLE = "delta-cycle"
    RESYNC = "resync"
    CYCLE_DONE = "cycle-done"
    CYCLE_FAILED = "cycle-failed"
    STOP = "stop"
    TEST_MIGRATE = "test-migrate"
    CLEANUP_TEST = "cleanup-test"
    CUTOVER = "cutover"
    FINAL_DELTA = "final-delta"
    CUTOVER_DONE = "cutover-done"
    CUTOVER_FAILED = "cutover-failed"
    ROLLBACK = "rollback"
    COMPLETE = "complete"


MADE_BY: Mapping[Step, str] = {
    Step.PLAN_UPLOAD: "`vmshift plan upload` naming the VM",
    Step.BLOCK: "the wave's readiness finding a blocking reason",
    Step.REPLICATE: "a cycle started by `vmshift replicate` or the wave's `replicate-<vm>` run",
    Step.DELTA_CYCLE: "a cycle started by `delta-sync`, when the VM is due",
    Step.RESYNC: "`vmshift replicate --resync`: every block compared again, the differing ones sent",
    Step.CYCLE_DONE: "a cycle that finished: a new recovery point",
    Step.CYCLE_FAILED: "a cycle that failed (its checkpoints are kept)",
    Step.STOP: "a cycle stopped on request: `vmshift stop`, or Cancel on its `replicate-<vm>` run",
    Step.TEST_MIGRATE: "`test-migrate`: a test VM built in the test VNet",
    Step.CLEANUP_TEST: "`cleanup-test`: the test VM and its resources deleted",
    Step.CUTOVER: "`cutover`, once its gates let the VM go",
    Step.FINAL_DELTA: "the cutover's final delta cycle",
    Step.CUTOVER_DONE: "the cutover built the target VM",
    Step.CUTOVER_FAILED: "the cutover stopped before the target VM existed; its source runs again",
    Step.ROLLBACK: "`rollback`: the target VM deleted, the source powered on",
    Step.COMPLETE: "`complete-migration`: replication finished, the source left clean",
}


class Then(StrEnum):
    """Where a step leads when that depends on the VM's replication rather than on its phase alone."""

    RESUMED = "replicating or protected"  # protected once a recovery point exists
    REPLICATION = "protected or failed"  # failed while its replication has an error


THEN_MEANING: Mapping[Then, str] = {
    Then.RESUMED: "protected once it has a recovery point, else replicating",
    Then.REPLICATION: "failed when its last cycle failed, else protected",
}

Target = Phase | Then

# A cycle may run, or end, in these: the phase can move while a cycle runs (a test migration, a cutover), and a
# cycle that ended must always be able to say so.
_CYCLE_PHASES = (Phase.REPLICATING, Phase.PROTECTED, Phase.FAILED, Phase.STOPPED, Phase.ROLLED_BACK)
_BUSY_PHASES = (Phase.TEST_MIGRATED, Phase.CUTTING_OVER)  # a cycle ends in them without moving the VM


def _stay(*phases: Phase) -> dict[Phase, Target]:
    return {phase: phase for phase in phases}


def _to(target: Target, *phases: Phase) -> dict[Phase, Target]:
    return dict.fromkeys(phases, target)


TRANSITIONS: Mapping[Step, Mapping[Phase, Target]] = {
    Step.PLAN_UPLOAD: _stay(Phase.DISCOVERED, Phase.BLOCKED, *_CYCLE_PHASES, Phase.TEST_MIGRATED),
    Step.BLOCK: _to(Phase.BLOCKED, Phase.DISCOVERED, Phase.BLOCKED),
    Step.REPLICATE: {**_to(Phase.REPLICATING, Phase.DISCOVERED, Phase.BLOCKED),
                     **_stay(Phase.REPLICATING, Phase.PROTECTED, Phase.FAILED, Phase.ROLLED_BACK),
                     Phase.STOPPED: Then.RESUMED},
    Step.DELTA_CYCLE: _stay(Phase.REPLICATING, Phase.PROTECTED, Phase.FAILED, Phase.ROLLED_BACK, Phase.TEST_MIGRATED),
    Step.RESYNC: _to(Phase.REPLICATING, Phase.PROTECTED, Phase.FAILED, Phase.STOPPED, Phase.ROLLED_BACK),
    Step.CYCLE_DONE: {**_to(Phase.PROTECTED, *_CYCLE_PHASES), **_stay(*_BUSY_PHASES)},
    Step.CYCLE_FAILED: {**_to(Phase.FAILED, *_CYCLE_PHASES), **_stay(*_BUSY_PHASES)},
    # Stopped while waiting for its slots, a VM never replicated is stopped too.
    Step.STOP: {**_to(Phase.STOPPED, Phase.DISCOVERED, Phase.BLOCKED, *_CYCLE_PHASES), **_stay(*_BUSY_PHASES)},
    Step.TEST_MIGRATE: _to(Phase.TEST_MIGRATED, Phase.PROTECTED, Phase.FAILED, Phase.STOPPED, Phase.ROLLED_BACK,
                           Phase.TEST_MIGRATED),
    # Running it where there is no test VM deletes nothing, and is no error.
    Step.CLEANUP_TEST: {**_stay(*(p for p in Phase if p is not Phase.TEST_MIGRATED)),
                        Phase.TEST_MIGRATED: Then.REPLICATION},
    Step.CUTOVER: _to(Phase.CUTTING_OVER, Phase.PROTECTED, Phase.ROLLED_BACK, Phase.CUTTING_OVER),
    Step.FINAL_DELTA: _stay(Phase.CUTTING_OVER),
    Step.CUTOVER_DONE: _to(Phase.MIGRATED, Phase.CUTTING_OVER),
    Step.CUTOVER_FAILED: _to(Then.REPLICATION, Phase.CUTTING_OVER),
    Step.ROLLBACK: _to(Phase.ROLLED_BACK, Phase.CUTTING_OVER, Phase.MIGRATED, Phase.ROLLED_BACK),
    Step.COMPLETE: _to(Phase.COMPLETED, Phase.MIGRATED, Phase.COMPLETED),
}

# The only steps that take a VM back towards the start: each undoes a cutover or copies the disks again.
GOES_BACK = frozenset({Step.RESYNC, Step.CUTOVER_FAILED, Step.ROLLBACK})

# Steps that build from a recovery point: refused until one exists.
NEEDS_RECOVERY_POINT = frozenset({Step.TEST_MIGRATE, Step.CUTOVER})
# Steps refused while a cycle of the VM runs: a cutover would shut the source down only to find its final delta
# refused, and power it on again.
NEEDS_IDLE = frozenset({Step.CUTOVER})

# What a refusal says besides the VM's phase: what that means for the step, and what the user can do instead. The
# first that applies: for the step in that phase, for the step (those whose refusal is about the step itself), for
# the phase. `{vm}` is the VM's name.
_INSTEAD: Mapping[tuple[Step, Phase], str] = {
    (Step.REPLICATE, Phase.COMPLETED): "replication is finished; to replicate it again, roll back before "
                                       "completion, or add a new plan row under another name",
    (Step.ROLLBACK, Phase.COMPLETED): "replication stopped and CBT is off on the source, so a rollback could not "
                                      "resume it; keep or delete the Azure VM yourself, and to migrate the source "
                                      "again add a new plan row under another name",
    (Step.CUTOVER, Phase.MIGRATED): "already cut over: complete the migration, or roll it back before cutting over "
                                    "again",
    (Step.CUTOVER, Phase.FAILED): "replication is failing: fix what its error says (`vmshift status --vm {vm}`) and "
                                  "let a delta cycle succeed, then cut over",
    (Step.CUTOVER, Phase.STOPPED): "resume its replication (`vmshift replicate --vm {vm}`), then cut over",
    (Step.DELTA_CYCLE, Phase.STOPPED): "delta cycles leave it alone until `vmshift replicate --vm {vm}` resumes it",
    (Step.RESYNC, Phase.REPLICATING): "a full copy is already under way",
}
_ABOUT_STEP: Mapping[Step, str] = {
    Step.PLAN_UPLOAD: "a plan can no longer change it: leave its row out, or add the VM under another name",
    Step.BLOCK: "readiness blocks only a VM that has not replicated yet; its next cycle says what is wrong",
    Step.CYCLE_DONE: "no replication cycle of it can be running",
    Step.CYCLE_FAILED: "no replication cycle of it can be running",
    Step.STOP: "no replication cycle of it can be running",
    Step.FINAL_DELTA: "no cutover of it is under way",
    Step.CUTOVER_DONE: "no cutover of it is under way",
    Step.CUTOVER_FAILED: "no cutover of it is under way",
    Step.ROLLBACK: "it was never cut over, so there is nothing to roll back (a test VM goes with "
                   "`vmshift cleanup-test --vm {vm}`)",
    Step.COMPLETE: "complete follows a good cutover: cut it over first",
}
_ABOUT_PHASE: Mapping[Phase, str] = {
    Phase.DISCOVERED: "its initial replication has not run: the wave (or `vmshift replicate --vm {vm}`) starts it",
    Phase.BLOCKED: "fix what readiness reported (`vmshift status --vm {vm}`), then run the wave again",
    Phase.REPLICATING: "no recovery point yet: wait for its initial replication to finish",
    Phase.TEST_MIGRATED: "its delta cycles go on while the test VM runs; clean the test migration up first "
                         "(`vmshift cleanup-test --vm {vm}`)",
    Phase.CUTTING_OVER: "a cutover is under way and runs its own final delta; wait for it, run the cutover again "
                        "if it died, or roll it back (`vmshift rollback --vm {vm}`)",
    Phase.MIGRATED: "replication is paused while the target VM runs; complete the migration "
                    "(`complete-migration`), or roll it back (`vmshift rollback --vm {vm}`) to replicate again",
    Phase.COMPLETED: "the migration is finished; to migrate the source again, add a new plan row under another name",
}
_NO_RECOVERY_POINT = "it has no recovery point yet: wait for its initial replication to finish"


class PhaseChange(BaseModel):
    """One entry of a VM's history: the phase a step led to, when, and who took it."""

    step: Step
    phase: Phase
    previous: Phase
    at: dt.datetime
    command: str  # the CLI command or the flow that took the step
    run: str | None = None  # the Prefect flow run, when a flow took it
    by: str | None = None  # user@host, where known
    note: str | None = None  # the error of a failed step, the reasons of a block


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a CLI command or a flow (with its run), by which user on which host."""

    command: str
    run: str | None = None
    by: str | None = None

    @classmethod
    def here(cls, command: str, run: str | None = None) -> Actor:
        """The current process's user and host."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for the uid (a container)
            user = "unknown"
        return cls(command, run, f"{user}@{socket.gethostname()}")


class LifecycleRefused(RuntimeError):
    """A step the VM's phase does not allow; nothing was done."""

    def __init__(self, vm: str, step: Step, phase: Phase, reached: PhaseChange | None, instead: str) -> None:
        self.vm, self.step, self.phase, self.reached = vm, step, phase, reached
        # Why, without naming the step and the VM: what a list of reasons (the cutover's gates) shows.
        self.reason = f"{_LABEL[phase]}{_when(phase, reached)}; {instead.format(vm=vm)}"
        super().__init__(f"{step} of {vm} refused: {self.reason}")


def _when(phase: Phase, change: PhaseChange | None) -> str:
    if change is None:
        return "" if phase is Phase.DISCOVERED else " (since before vmshift kept a history of its phases)"
    run = f"run {change.run} ({change.command})" if change.run else change.command
    by = f", by {change.by}" if change.by else ""
    note = f" ({change.note})" if change.note else ""
    return f" at {change.at:%Y-%m-%d %H:%M:%S} UTC by {run}{by}{note}"


def reached_by(state: VmState) -> PhaseChange | None:
    """The history entry that led the VM into its current phase; None for a document older than the history."""
    last = state.history[-1] if state.history else None
    return last if last is not None and last.phase == state.phase else None


def next_phase(state: VmState, step: Step) -> Phase:
    """Where `step` leads the VM now; LifecycleRefused when its phase does not allow it. Changes nothing."""
    phase = state.phase
    target = TRANSITIONS[step].get(phase)
    if target is None:
        instead = _INSTEAD.get((step, phase)) or _ABOUT_STEP.get(step) or _ABOUT_PHASE[phase]
        raise LifecycleRefused(state.vm, step, phase, reached_by(state), instead)
    if step in NEEDS_RECOVERY_POINT and not state.recovery_points:
        raise LifecycleRefused(state.vm, step, phase, reached_by(state), _NO_RECOVERY_POINT)
    claim = state.in_progress.claim if state.in_progress else None
    if step in NEEDS_IDLE and claim is not None and claim.is_live():
        raise LifecycleRefused(state.vm, step, phase, reached_by(state),
                               f"a replication cycle of it runs now (run {claim.run_id}, pid {claim.pid} on "
                               f"{claim.host}); wait for it to end")
    return _resolve(target, state)


def _resolve(target: Target, state: VmState) -> Phase:
    if target is Then.RESUMED:
        return Phase.PROTECTED if state.recovery_points else Phase.REPLICATING
    if target is Then.REPLICATION:
        return Phase.FAILED if state.error else Phase.PROTECTED
    return Phase(target)


def allows(state: VmState, step: Step) -> bool:
    """Whether `next_phase` would let the step be taken now."""
    try:
        next_phase(state, step)
    except LifecycleRefused:
        return False
    return True


MAX_HISTORY = 200  # entries a document keeps; the oldest cycle outcomes go first


def advance(state: VmState, step: Step, actor: Actor, *, note: str | None = None,
            at: dt.datetime | None = None) -> Phase:
    """Take `step`: the VM's new phase, a change of phase kept in its history. Refused (LifecycleRefused),
    the state is left exactly as it was."""
    phase, previous = next_phase(state, step), state.phase
    if phase != previous:
        state.history.append(PhaseChange(step=step, phase=phase, previous=previous,
                                         at=at or dt.datetime.now(dt.UTC), command=actor.command, run=actor.run,
                                         by=actor.by, note=note))
        _prune(state.history)
    state.phase = phase
    return phase


_CYCLE_OUTCOMES = frozenset({Step.CYCLE_DONE, Step.CYCLE_FAILED, Step.STOP})


def _prune(history: list[PhaseChange]) -> None:
    """A VM whose cycles keep failing and recovering must not grow its document without end; the steps a person
    took (test migration, cutover, rollback...) are kept longest."""
    while len(history) > MAX_HISTORY:
        # The last entry is the one that reached the current phase: never dropped.
        oldest = next((i for i, change in enumerate(history[:-1]) if change.step in _CYCLE_OUTCOMES), 0)
        del history[oldest]


def last_change(state: VmState, step: Step) -> PhaseChange | None:
    """The latest time `step` changed the VM's phase, as its history keeps it."""
    return next((change for change in reversed(state.history) if change.step == step), None)


# The graph, as docs/lifecycle.md draws it ---------------------------------------------------------------------


def targets(target: Target) -> tuple[Phase, ...]:
    """Every phase a target can turn out to be."""
    if target is Then.RESUMED:
        return (Phase.REPLICATING, Phase.PROTECTED)
    if target is Then.REPLICATION:
        return (Phase.PROTECTED, Phase.FAILED)
    return (Phase(target),)


def edges() -> frozenset[tuple[Phase, Step, Phase]]:
    """Every (from, step, to) the table allows."""
    return frozenset((source, step, to) for step, moves in TRANSITIONS.items() for source, target in moves.items()
                     for to in targets(target))


def reachable(start: Phase = Phase.DISCOVERED) -> frozenset[Phase]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for source, _, to in edges():
            if source == here and to not in seen:
                seen.add(to)
                todo.append(to)
    return frozenset(seen)


def markdown() -> str:
    """docs/lifecycle.md: the phases, the state diagram (Mermaid) and the table of steps, from the table above."""
    lines = [
        "# The lifecycle of a VM",
        "",
        "<!-- Generated from vmshift/state/lifecycle.py by `python -m vmshift.state.lifecycle --markdown`; "
        "tests/state/test_lifecycle_doc.py fails when the two differ. -->",
        "",
        "Every command and flow asks `vmshift.state.lifecycle.next_phase` before it acts on a VM: the step "
        "leads to the phase below, or is refused with the VM's phase, when and by which run it got there, "
        "and what to do instead. A refused step changes nothing. Each change of phase is kept in the VM's state "
        "document (`history`: step, phase, time, command or flow run, user@host); `vmshift status --vm V` "
        "shows it.",
        "",
        "## Phases",
        "",
        "| phase | what it means |",
        "| --- | --- |",
        *(f"| {phase} | {MEANING[phase]} |" for phase in Phase),
        "",
        "## State diagram",
        "",
        "Steps that leave the phase as it is are in the table only.",
        "",
        "```mermaid",
        "stateDiagram-v2",
        *(f"    state \"{phase}\" as {_node(phase)}" for phase in Phase),
        f"    [*] --> {_node(Phase.DISCOVERED)}",
        *_diagram_edges(),
        "```",
        "",
        "## Steps",
        "",
        f"Only {', '.join(f'`{step}`' for step in sorted(GOES_BACK))} take a VM back towards the start. "
        f"{', '.join(f'`{step}`' for step in sorted(NEEDS_RECOVERY_POINT))} also need a recovery point; "
        f"{', '.join(f'`{step}`' for step in sorted(NEEDS_IDLE))} waits until no replication cycle of the VM runs.",
        "",
        "| step | made by | from → to | refused in |",
        "| --- | --- | --- | --- |",
        *(f"| {step} | {MADE_BY[step]} | {_moves(TRANSITIONS[step])} | "
          f"{', '.join(p for p in Phase if p not in TRANSITIONS[step]) or '—'} |" for step in Step),
        "",
    ]
    return "\n".join(lines)


def _node(phase: Phase) -> str:
    return phase.value.replace("-", "_")


def _diagram_edges() -> Iterable[str]:
    labels: dict[tuple[Phase, Phase], list[str]] = {}
    for source, step, to in sorted(edges()):
        if source != to:
            labels.setdefault((source, to), []).append(step.value)
    return (f"    {_node(source)} --> {_node(to)} : {', '.join(sorted(steps))}"
            for (source, to), steps in sorted(labels.items()))


def _moves(moves: Mapping[Phase, Target]) -> str:
    stays = [source for source, target in moves.items() if source == target]
    by_target: dict[Target, list[Phase]] = {}
    for source, target in moves.items():
        if source != target:
            by_target.setdefault(target, []).append(source)
    parts = [f"{', '.join(sources)} → {THEN_MEANING[target] if isinstance(target, Then) else target}"
             for target, sources in by_target.items()]
    if stays:
        parts.append(f"{', '.join(stays)}: unchanged")
    return "; ".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m vmshift.state.lifecycle", description=__doc__)
    parser.add_argument("--markdown", action="store_true", required=True, help="print docs/lifecycle.md")
    parser.parse_args()
    print(markdown(), end="")
