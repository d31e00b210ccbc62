"""Delta sync: the replication states in the cache accounts, and which VMs' next cycle is due now."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prefect import task

from vmshift.replication.cycle import ReplicationSettings
from vmshift.replication.storage import blob_service_client
from vmshift.schedule import BlackoutWindow, CycleRecord, CycleRule, due_vms
from vmshift.state.document import VmState
from vmshift.state.status import delta_scheduled, vm_status
from vmshift.state.store import StateStore, UnreadableState


def state_store(cache_account: str) -> StateStore:
    settings = ReplicationSettings(cache_account)
    return StateStore(blob_service_client(cache_account).get_container_client(settings.state_container))


async def replication_states(
    cache_accounts: Sequence[str],
) -> tuple[dict[str, tuple[str, VmState]], list[UnreadableState]]:
    """VM name → (its cache account, its state), across the accounts; and the VMs whose state is unreadable."""
    found: dict[str, tuple[str, VmState]] = {}
    unreadable: list[UnreadableState] = []
    for account in cache_accounts:
        states, broken = await asyncio.to_thread(state_store(account).all_states)
        found |= {state.vm: (account, state) for state in states}
        unreadable += broken
    return found, unreadable


@task(name="due-cycles")
def due_cycles(states: dict[str, tuple[str, VmState]], appliance: str, rule: CycleRule,
               blackouts: Sequence[BlackoutWindow], now: datetime | None = None) -> list[str]:
    """VMs past their initial cycle whose next delta cycle is due now, outside the appliance's blackouts."""
    records = [
        CycleRecord(vm, appliance, state.last_cycle.finished_at, timedelta(seconds=state.last_cycle.seconds))
        for vm, (_, state) in states.items() if delta_scheduled(state) and state.last_cycle is not None
    ]
    return due_vms(records, now or datetime.now(UTC), rule, {appliance: list(blackouts)})


def status_rows(states: dict[str, tuple[str, VmState]], rule: CycleRule) -> list[dict]:
    """What the status table shows per VM: phase, progress of a cycle in flight, last cycle, recovery points,
    next cycle due, error."""
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
