"""What `vmshift status` shows of a VM, from its state document: the one record of its replication."""

from __future__ import annotations

from datetime import timedelta

from vmshift.schedule import CycleRule, next_cycle_due
from vmshift.state.document import VmState

# Phases in which delta cycles are scheduled: a failed cycle is tried again when next due, resuming from its
# checkpoints; a stopped VM waits for its next run by hand; a migrated VM replicates no more.
SCHEDULED_PHASES = frozenset({"protected", "failed"})


def delta_scheduled(state: VmState) -> bool:
    """Delta cycles run for a protected or failed VM, and for one whose cycle died without saying so (killed,
    or its failure could not be saved): the next cycle resumes from its checkpoints."""
    if state.phase in SCHEDULED_PHASES:
        return True
    claim = state.in_progress.claim if state.in_progress else None
    return state.phase == "replicating" and (claim is None or not claim.is_live())


def vm_status(state: VmState, rule: CycleRule | None = None) -> dict:
    """One VM's row: `name, phase, last_cycle, recovery_points, next_cycle_due, error` and progress."""
    last = state.last_cycle
    due = None
    if last is not None and delta_scheduled(state):
        due = next_cycle_due(last.finished_at, timedelta(seconds=last.seconds), rule).isoformat()
    progress = None
    if state.in_progress is not None:
        progress = {"cycle": state.in_progress.cycle, "kind": state.in_progress.kind,
                    "bytes_sent": state.in_progress.bytes_sent, "percent_done": state.in_progress.percent_done}
    return {
        "name": state.vm,
        "phase": state.phase,
        "last_cycle": None if last is None else {
            "cycle": last.cycle, "kind": last.kind, "finished_at": last.finished_at.isoformat(),
            "seconds": last.seconds, "bytes_sent": last.bytes_sent, "changed_bytes": last.changed_bytes},
        "recovery_points": len(state.recovery_points),
        "latest_recovery_point": state.recovery_points[-1].created_at.isoformat() if state.recovery_points else None,
        "next_cycle_due": due,
        "in_progress": progress,
        "error": state.error,
    }
