"""Stage 3 of a wave: the VMs as vCenter shows them, their readiness, and each VM's replication cycle (run within
its slots by tasks/slots.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.lifecycle import run_actor
from tasks.retry import TRANSIENT_RETRY
from vmshift.migration import connections
from vmshift.migration.connections import ProgressCallback
from vmshift.migration.readiness import Readiness, replication_readiness
from vmshift.state.lifecycle import Step
from vmshift.vsphere.facts import VmFacts


@task(name="source-inventory", tags=["vcenter"], **TRANSIENT_RETRY)
async def source_facts(vm_names: Sequence[str], target_names: dict[str, str],
                       vcenters: Mapping[str, str | None] | None = None) -> dict[str, VmFacts]:
    """The wave's VMs as their vCenter (`vcenters`, the plan's column; none: the default) shows them now; a VM
    missing from its inventory is left out (readiness says so)."""
    return await asyncio.to_thread(connections.source_facts, vm_names, target_names, vcenters)


@task(name="readiness")
def readiness(vm_names: Sequence[str], facts: dict[str, VmFacts]) -> list[Readiness]:
    """Azure Migrate's support matrix per VM: blocking reasons stop that VM only."""
    return [replication_readiness(facts[name]) if name in facts
            else Readiness(name, blocking=("not found in the vCenter inventory",)) for name in vm_names]


# No tags: each tag of a task run costs a tag-limit request to the server, and this runs once per VM per cycle.
@task(name="replication-cycle", cache_policy=NO_CACHE, **TRANSIENT_RETRY)
async def replication_cycle(
    vm: str, cache_account: str, stop: threading.Event, on_progress: ProgressCallback, step: Step,
    included_disks: Sequence[int] | None = None, vcenter: str = "",
    placement: tuple[str | None, str | None] | None = None,
) -> dict:
    """One cycle (initial, delta or resync, as the VM's state says) that `step` starts, in the VM's `vcenter`; the
    caller holds the VM's slots. The first keeps `included_disks`, the disks the plan migrates (None: every disk),
    and `placement`, the plan's appliance and vCenter (None: left as they are)."""
    # The flow run owns the cycle's claim: when its appliance is lost, its rerun elsewhere takes the claim over.
    report = await asyncio.to_thread(connections.run_cycle, vm, cache_account, stop, on_progress, step, run_actor(),
                                     included_disks, str(flow_run.id or ""), vcenter, placement)
    get_run_logger().info("%s: %s cycle %s sent %s bytes in %.1f s", vm, report.get("kind", ""), report.get("cycle"),
                          report.get("bytes_sent"), report.get("seconds", 0.0))
    return report
