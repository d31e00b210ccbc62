"""The slot engine: vmshift's global concurrency limits (vmshift/migration/limits.py) created on the Prefect
server, queued on in-process and held around each VM's cycle; and Prefect API writes queued in the process.

Slots are global concurrency limits taken with strict=True (an unknown name would limit nothing), once per
disk and not per page: Prefect hands a global slot over in milliseconds, a tag-based one in seconds. They are
held around the cycle task, so the task run's start and end times show when the VM held them; a cycle waiting
to retry after a throttle keeps them, which keeps others from piling onto the throttled storage. They must exist
before a flow takes one: `vmshift limits setup` calls `ensure_limits(limits_for(..., overrides), update=True)`;
a wave calls it with `update=False` for the names it is about to take, so that it never resets a limit someone
tuned in the UI.

On a SQLite-backed server, concurrent writes (slot acquisitions, releases, artifacts, subflow runs) collide on
the database lock; the server answers 503 and the client waits ~2 s before trying again. Measured here: 20
concurrent slot acquisitions took 15 s, the same made one at a time take ~10 ms each. Each write is short,
so queueing them in the process costs far less than colliding. On PostgreSQL (the lab's server) the queue
cost nothing measurable in one wave's process (bench/orchestration.py), but an appliance with tens of runs in
flight queued ~5 writes a VM behind one another at ~0.2-0.5 s each on a busy server: one at a time, they set its
pace (~1.2 s a VM, docs/scale-out.md). An appliance, whose server is on PostgreSQL, lets several go at once
(`writes_at_once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TypeVar

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError, concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from tasks.replication import replication_cycle
from vmshift.migration.appliance import Appliance
from vmshift.migration.connections import ProgressCallback
from vmshift.migration.limits import limits_for, vm_slots
from vmshift.migration.report import outcome_row
from vmshift.replication.cycle import CycleStopped
from vmshift.state.lifecycle import Step
from vmshift.vsphere.facts import VmFacts

T = TypeVar("T")
STOP_CHECK_S = 1.0  # how soon a VM waiting for a slot notices a stop request
LIMIT_FULL = 423  # Prefect's answer while a limit has no free slot, with Retry-After
# Held slots are leased and the lease renewed every 3/4 of it; a lost appliance's slots go back once its leases
# run out. Prefect's default of 300 s would keep a host's reads from the appliances taking over for 5 minutes.
SLOT_LEASE_S = 60
THREADS_BESIDE_VMS = 16  # the event loop's short blocking calls (state documents, reports) beside its VMs' steps

_writes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def writes_at_once(count: int) -> None:
    """Let the running event loop have `count` API writes in flight at once (one unless said: SQLite, above)."""
    _writes[asyncio.get_running_loop()] = asyncio.Semaphore(count)


def write_turns() -> asyncio.Semaphore:
    """The write turns of the running event loop (each `asyncio.run` has its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _writes:
        _writes[loop] = asyncio.Semaphore(1)
    return _writes[loop]


async def serially(write: Awaitable[T]) -> T:
    """Await one API write once this process has a write turn free (one at a time unless `writes_at_once`)."""
    async with write_turns():
        return await write


class LocalSlots:
    """A process's own view of one global limit, so that waiting VMs queue here and take a slot the moment a
    neighbour frees it, instead of polling the server on its Retry-After (measured: ~0.5-1 s per handover).
    The server's limit still decides across processes; this only keeps the process from asking in vain."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.changed = asyncio.Condition()

    async def take(self, count: int, stop: threading.Event) -> None:
        """Wait for `count` free slots; a stop request ends the wait with CycleStopped (nothing taken)."""
        async with self.changed:
            while self.free < count:
                if stop.is_set():
                    raise CycleStopped("stopped on request while waiting for a replication slot")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), STOP_CHECK_S)
            self.free -= count

    async def give(self, count: int) -> None:
        async with self.changed:
            self.free += count
            self.changed.notify_all()


_local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, LocalSlots]] = weakref.WeakKeyDictionary()


def know_limits(sizes: dict[str, int]) -> None:
    """Record the sizes in force of the limits this process will take (from `ensure_limits`)."""
    known = _local.setdefault(asyncio.get_running_loop(), {})
    for name, size in sizes.items():
        if name not in known:
            known[name] = LocalSlots(size)


def local_slots(name: str) -> LocalSlots | None:
    """The local queue of a limit whose size this process knows, or None (then only the server queues)."""
    return _local.get(asyncio.get_running_loop(), {}).get(name)


async def ensure_limits(limits: Mapping[str, int], *, update: bool) -> dict[str, int]:
    """Create each missing limit; with `update`, resize existing ones too. Returns the sizes in force."""
    in_force: dict[str, int] = {}
    async with get_client() as client:
        for name, size in limits.items():
            try:
                existing = await client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):  # another wave created it a moment ago
                    await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=size))
                in_force[name] = size
                continue
            if update and existing.limit != size:
                await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=size))
                in_force[name] = size
            else:
                in_force[name] = existing.limit
    return in_force


_threads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def threads_for_vms(count: int) -> None:
    """Let the running event loop run `count` VMs' blocking steps (a cycle, a cutover) at once. Each runs in a
    thread of the loop's default executor (asyncio.to_thread), which Python sizes to the CPUs: 6 threads on 2
    cores, so an appliance of 300 runs in flight read 6 disks at once while the other VMs holding their slots
    waited for a thread, and a wave's cutover took its VMs 6 at a time. Threads start only as the VMs need them;
    a loop that has enough already keeps its executor."""
    loop, wanted = asyncio.get_running_loop(), count + THREADS_BESIDE_VMS
    if _threads.get(loop, 0) < wanted:
        loop.set_default_executor(ThreadPoolExecutor(wanted, thread_name_prefix="vmshift-vm"))
        _threads[loop] = wanted


async def prepare_limits(facts: Iterable[VmFacts], appliance: Appliance) -> None:
    """Create the limits the VMs' cycles take (sizes tuned in the UI are kept), queue on them in-process, and have
    a thread for each VM's cycle. A limit this event loop knows already is not read again: an appliance's runs
    share its loop, and each run read its 4-5 limits (a tuned size reaches the in-process queue only on the loop's
    first read anyway)."""
    facts = list(facts)
    threads_for_vms(len(facts))
    known = _local.get(asyncio.get_running_loop(), {})
    missing = {name: size for name, size in limits_for(facts, appliance).items() if name not in known}
    if missing:
        know_limits(await ensure_limits(missing, update=False))


async def cycle_within_limits(
    vm: str,
    cache_account: str,
    facts: VmFacts,
    appliance: Appliance,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback = lambda percent: None,
    included_disks: Sequence[int] | None = None,
    step: Step = Step.REPLICATE,
    placement: tuple[str | None, str | None] | None = None,
) -> dict:
    """One cycle of the VM, started by the lifecycle `step`, while it holds its slots; returns its outcome row.
    Setting `stop` ends it early with CycleStopped (flows/stop.py); `on_progress` gets the percent done, from the
    cycle's thread; the VM's first cycle keeps `included_disks` (the plan's disks by vSphere key; None: every
    disk), and only they take disk slots; and `placement`, the plan's appliance and vCenter (replicate_once)."""
    stop = stop or threading.Event()
    async with held(vm_slots(facts, appliance, included_disks), stop):
        report = await replication_cycle(vm, cache_account, stop, on_progress, step, included_disks, facts.vcenter,
                                         placement)
    return outcome_row(vm, "protected", kind=report.get("kind"), cycle=report.get("cycle"),
                       bytes_sent=report.get("bytes_sent"), changed_bytes=report.get("changed_bytes"),
                       seconds=report.get("seconds"))


@asynccontextmanager
async def held(slots: Sequence[tuple[str, int]], stop: threading.Event) -> AsyncIterator[None]:
    """Hold every slot: limits taking the same number of slots in one all-or-nothing call, the calls always in
    the same order so that two VMs never hold each other's half; acquisitions and releases queued (`serially`).
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
        slot = concurrency(names, occupy=occupy, strict=True, max_retries=0, lease_duration=SLOT_LEASE_S)
        try:
            await serially(slot.__aenter__())
            return slot
        except ConcurrencySlotAcquisitionError as error:
            full = error.__cause__
            if not (isinstance(full, httpx.HTTPStatusError) and full.response.status_code == LIMIT_FULL):
                raise
            await asyncio.sleep(float(full.response.headers.get("Retry-After", 1.0)))
