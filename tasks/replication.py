"""Stage 3 of a wave: readiness from the vCenter inventory, then each VM's replication cycles within the limits.

Slots are global concurrency limits taken with strict=True (an unknown name would limit nothing), once per
disk and not per page: Prefect hands a global slot over in milliseconds, a tag-based one in seconds. They are
held around the cycle task, so the task run's start and end times show when the VM held them; a cycle waiting
to retry after a throttle keeps them, which keeps others from piling onto the throttled storage.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import httpx
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError, concurrency

from deployments.limits import ensure_limits
from flows.appliance import Appliance
from flows.report import outcome_row
from flows.serial import know_limits, local_slots, serially
from tasks.retry import TRANSIENT_RETRY
from vmshift.limits import LimitKind, limit_name, planned_limits
from vmshift.readiness import Readiness, VmFacts, facts_from_inventory, replication_readiness
from vmshift.replication.cycle import CycleStopped, ReplicationSettings, replicate_once
from vmshift.vsphere.connection import VCenterConfig, connect
from vmshift.vsphere.inventory import inventory

ProgressCallback = Callable[[float], None]
LIMIT_FULL = 423  # Prefect's answer while a limit has no free slot, with Retry-After


@task(name="source-inventory", tags=["vcenter"], **TRANSIENT_RETRY)
async def source_facts(vm_names: Sequence[str], target_names: dict[str, str]) -> dict[str, VmFacts]:
    """The wave's VMs as vCenter shows them now; a VM missing from the inventory is left out (readiness says so)."""
    facts = facts_from_inventory(await asyncio.to_thread(read_inventory), target_names)
    return {name: facts[name] for name in vm_names if name in facts}


@task(name="readiness")
def readiness(vm_names: Sequence[str], facts: dict[str, VmFacts]) -> list[Readiness]:
    """Azure Migrate's support matrix per VM: blocking reasons stop that VM only."""
    return [replication_readiness(facts[name]) if name in facts
            else Readiness(name, blocking=("not found in the vCenter inventory",)) for name in vm_names]


def vm_slots(facts: VmFacts, appliance: Appliance) -> list[tuple[str, int]]:
    """The global limits one VM's cycle holds, and how many slots of each (one per disk where disks count)."""
    disks = sum(1 for disk in facts.disks if not disk.rdm)
    slots = [(limit_name(LimitKind.VCENTER_REPLICATING_VMS, appliance.vcenter), 1),
             (limit_name(LimitKind.APPLIANCE_DISKS, appliance.name), disks),
             (limit_name(LimitKind.HOST_DISK_READS, facts.host or appliance.vcenter), disks)]
    slots += [(limit_name(LimitKind.DATASTORE_SNAPSHOTS, datastore), 1) for datastore in facts.datastores]
    return slots


@asynccontextmanager
async def held(slots: Sequence[tuple[str, int]], stop: threading.Event) -> AsyncIterator[None]:
    """Hold every slot: limits taking the same number of slots in one all-or-nothing call, the calls always in
    the same order so that two VMs never hold each other's half; acquisitions and releases one at a time.
    A stop request while waiting raises CycleStopped, and what was taken is given back."""
    by_occupy: dict[int, list[str]] = {}
    for name, occupy in slots:
        by_occupy.setdefault(occupy, []).append(name)
    async with AsyncExitStack() as stack:
        for name, occupy in sorted(slots):
            # More than the limit's size: only the server's refusal (422) explains that well.
            if (queue := local_slots(name)) is not None and occupy <= queue.size:
                await queue.take(occupy, stop)
                stack.push_async_callback(queue.give, occupy)
        for occupy, names in sorted(by_occupy.items()):
            slot = await _enter_when_free(sorted(names), occupy, stop)
            stack.push_async_exit(lambda *exc, slot=slot: serially(slot.__aexit__(*exc)))
        yield


async def _enter_when_free(names: list[str], occupy: int, stop: threading.Event) -> AbstractAsyncContextManager:
    """Ask once at a time; while a limit is full, wait as long as the server says without blocking others."""
    while True:
        if stop.is_set():
            raise CycleStopped(f"stopped on request while waiting for a slot of {', '.join(names)}")
        slot = concurrency(names, occupy=occupy, strict=True, max_retries=0)
        try:
            await serially(slot.__aenter__())
            return slot
        except ConcurrencySlotAcquisitionError as error:
            full = error.__cause__
            if not (isinstance(full, httpx.HTTPStatusError) and full.response.status_code == LIMIT_FULL):
                raise
            await asyncio.sleep(float(full.response.headers.get("Retry-After", 1.0)))


async def prepare_limits(facts: Iterable[VmFacts], appliance: Appliance) -> None:
    """Create the limits the VMs' cycles take (sizes tuned in the UI are kept) and queue on them in-process."""
    know_limits(await ensure_limits(limits_for(facts, appliance), update=False))


def limits_for(
    facts: Iterable[VmFacts], appliance: Appliance, overrides: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Every limit the VMs' cycles will take (`vm_slots`), at its default size or as overridden: what must
    exist before they start."""
    chosen = list(facts)
    return planned_limits(hosts=[f.host or appliance.vcenter for f in chosen],
                          datastores=[ds for f in chosen for ds in f.datastores],
                          appliances=[appliance.name], vcenters=[appliance.vcenter], overrides=overrides)


async def cycle_within_limits(
    vm: str,
    cache_account: str,
    facts: VmFacts,
    appliance: Appliance,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback = lambda percent: None,
) -> dict:
    """One cycle of the VM while it holds its slots; returns its outcome row. Setting `stop` ends it early
    with CycleStopped (flows/stop.py); `on_progress` gets the percent done, from the cycle's thread."""
    stop = stop or threading.Event()
    async with held(vm_slots(facts, appliance), stop):
        report = await replication_cycle(vm, cache_account, stop, on_progress)
    return outcome_row(vm, "protected", kind=report.get("kind"), cycle=report.get("cycle"),
                       bytes_sent=report.get("bytes_sent"), changed_bytes=report.get("changed_bytes"),
                       seconds=report.get("seconds"))


# No tags: each tag of a task run costs a tag-limit request to the server, and this runs once per VM per cycle.
@task(name="replication-cycle", cache_policy=NO_CACHE, **TRANSIENT_RETRY)
async def replication_cycle(
    vm: str, cache_account: str, stop: threading.Event, on_progress: ProgressCallback
) -> dict:
    """One cycle (initial, delta or resync, as the VM's state says); the caller holds the VM's slots."""
    report = await asyncio.to_thread(run_cycle, vm, cache_account, stop, on_progress)
    get_run_logger().info("%s: %s cycle %s sent %s bytes in %.1f s", vm, report.get("kind", ""), report.get("cycle"),
                          report.get("bytes_sent"), report.get("seconds", 0.0))
    return report


def read_inventory() -> pd.DataFrame:
    return inventory(connect(VCenterConfig.from_env()))


def run_cycle(vm: str, cache_account: str, stop: threading.Event, on_progress: ProgressCallback) -> dict:
    return replicate_once(vm, settings=ReplicationSettings.from_env(cache_account), stop=stop,
                          on_progress=on_progress)
