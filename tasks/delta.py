"""Delta sync: which VMs' next cycle is due now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prefect import task

from vmshift.schedule import BlackoutWindow, CycleRecord, CycleRule, due_vms
from vmshift.state.document import VmState
from vmshift.state.status import delta_scheduled


@task(name="due-cycles")
def due_cycles(states: dict[str, tuple[str, VmState]], appliance: str, rule: CycleRule,
               blackouts: Sequence[BlackoutWindow], now: datetime | None = None) -> list[str]:
    """VMs past their initial cycle whose next delta cycle is due now, outside the appliance's blackouts."""
    records = [
        CycleRecord(vm, appliance, state.last_cycle.finished_at, timedelta(seconds=state.last_cycle.seconds))
        for vm, (_, state) in states.items() if delta_scheduled(state) and state.last_cycle is not None
    ]
    return due_vms(records, now or datetime.now(UTC), rule, {appliance: list(blackouts)})
