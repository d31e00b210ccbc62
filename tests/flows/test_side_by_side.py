"""The steps a wave's VMs take side by side (cutover, test migration, verification, rollback, completion)."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from local_steps import wave_of

import flows.selection
from flows.selection import side_by_side
from vmshift.migration.report import outcome_row
from vmshift.plan.schema import WavePlanRow


async def _no_history(vm: str, cache_account: str) -> None:
    """The lifecycle artifact is another test's: this one has no server."""


def test_every_vm_of_a_step_runs_at_once_not_as_many_as_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each VM's cutover runs in a thread (asyncio.to_thread), and Python's default executor has min(32, cpus + 4):
    # one VM more than that waited for a thread, its source still up while the others' were down.
    monkeypatch.setattr(flows.selection, "publish_history", _no_history)
    vms = wave_of("side", [f"vm-{i}" for i in range(min(32, (os.cpu_count() or 1) + 4) + 1)]).vms
    all_in = threading.Barrier(len(vms), timeout=30)

    async def cut_over(vm: WavePlanRow) -> int:
        return await asyncio.to_thread(all_in.wait)

    rows = asyncio.run(side_by_side(vms, cut_over, lambda vm, _: outcome_row(vm.source_vm, "migrated")))
    assert {row["vm"]: row["outcome"] for row in rows} == {vm.source_vm: "migrated" for vm in vms}, rows
