"""What `vmshift status` shows of a VM, from its state document: the one record of its replication."""

from __future__ import annotations

from datetime import timedelta

from vmshift.schedule import CycleRule, next_cycle_due
from vmshift.state import lifecycle
from vmshift.state.document import VmState


def delta_scheduled(state: VmState) -> bool:
    """Delta cycles run where the lifecycle allows one (a failed cycle is tried again, resuming from its
    checkpoints; a stopped VM waits for its next run by hand; a cut over VM replicates no more), unless a cycle of
    the VM runs now. A cycle that died without saying so (killed, or its failure could not be saved) is resumed."""
    claim = state.in_progress.claim if state.in_progress else None
    if claim is not None and claim.is_live():
        return False
    return lifecycle.allows(state, lifecycle.Step.DELTA_CYCLE)


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


def status_rows(states: dict[str, tuple[str, VmState]], rule: CycleRule) -> list[dict]:
    """What the delta pass's status table shows per VM (its cache account, its state): phase, progress of a cycle
    in flight, last cycle, recovery points, next cycle due, error."""
    rows = []
    for vm, (account, state) in sorted(states.items()):
        last, progress = state.last_cycle, state.in_progress
        rows.append({
            "vm": vm, "cache_account": account, "phase": state.phase,
            "cycle_in_progress": f"{progress.kind} {progress.cycle}, {progress.percent_done:.0f}% done"
            if progress else "",
            "last_cycle": f"{last.kind} {last.cycle} at {last.finished_at.isoformat()} ({last.seconds:.0f} s)"
            if last else "",
            "recovery_points": len(state.recovery_points),
            "next_cycle_due": vm_status(state, rule)["next_cycle_due"] or "",
            "error": state.error or "",
        })
    return rows


def history_rows(state: VmState) -> list[dict]:
    """The VM's changes of phase, oldest first: what `vmshift status --vm V` and the VM's artifact show."""
    return [{"at": change.at.isoformat(), "step": change.step.value, "from": change.previous.value,
             "phase": change.phase.value, "command": change.command, "run": change.run, "by": change.by,
             "note": change.note} for change in state.history]


def history_markdown(state: VmState) -> str:
    """The VM's phase and history as a markdown table (its Prefect artifact)."""
    since = lifecycle.reached_by(state)
    lines = [f"# {state.vm}: {state.phase}", "",
             f"{lifecycle.MEANING[state.phase]}" + (f" (since {since.at:%Y-%m-%d %H:%M:%S} UTC)" if since else "."),
             "", "| at (UTC) | step | from | to | command / run | by | note |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {row['at'][:19]} | {row['step']} | {row['from']} | {row['phase']} | "
              f"{row['command']}{' ' + row['run'] if row['run'] else ''} | {row['by'] or ''} | "
              f"{(row['note'] or '').replace('|', '/')} |" for row in history_rows(state)]
    return "\n".join(lines)
