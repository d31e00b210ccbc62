"""The slot engine: vmshift's global concurrency limits (vmshift/migration/limits.py) created on the Prefect
server, queued on in-process and held around each VM's cycle; and Prefect API writes queued in the process.

Slots are global concurrency limits taken under a lease (`SlotLease`; a missing limit is an error, since it
would limit nothing), once per disk and not per page: Prefect hands a global slot over in milliseconds, a
tag-based one in seconds. They are held around the cycle task, so the task run's start and end times show when
the VM held them; a cycle waiting to retry after a throttle keeps them, which keeps others from piling onto the
throttled storage. They must exist before a flow takes one: `vmshift limits setup` calls
`ensure_limits(limits_for(..., overrides), update=True)`; a wave calls it with `update=False` for the names it
is about to take, so that it never resets a limit someone tuned in the UI.

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
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar
from uuid import UUID

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound

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
LEASE_GONE = 410  # Prefect's answer to renewing a lease it has let go
TOO_MANY_SLOTS = 422  # Prefect's answer when more slots are asked for than a limit has
# Held slots are leased and the lease renewed every 3/4 of it; a lost appliance's slots go back once its leases
# run out. Prefect's default of 300 s would keep a host's reads from the appliances taking over for 5 minutes.
SLOT_LEASE_S = 60
RENEW_AT = 0.75  # of the lease, as Prefect's own renewal
RENEW_RETRY_S = 5.0
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
    """Hold every slot: limits taking the same number of slots in one all-or-nothing lease, the leases always
    taken in the same order so that two VMs never hold each other's half; takes and gives queued (`serially`).
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
        client = await stack.enter_async_context(get_client())
        for occupy, names in sorted(by_occupy.items()):
            lease = await _lease_when_free(client, sorted(names), occupy, stop)
            stack.push_async_callback(lease.give_back)
        yield


async def _lease_when_free(client: PrefectClient, names: list[str], occupy: int, stop: threading.Event
                           ) -> SlotLease:
    """Ask once at a time; while a limit is full, wait as long as the server says without blocking others."""
    while True:
        if stop.is_set():
            raise CycleStopped(f"stopped on request while waiting for a slot of {', '.join(names)}")
        if (lease := await SlotLease.take(client, names, occupy)) is not None:
            return lease


class SlotsRefused(RuntimeError):
    """The Prefect server cannot give a VM's cycle its slots however long it waits: a limit is missing (it would
    limit nothing) or smaller than the slots asked for."""


class SlotLease:
    """Slots of some limits held under one lease of the Prefect server, renewed by a task of this event loop
    until given back. Prefect's own `concurrency` starts a thread with a client of its own for each lease (and
    renews at once, through it), and sends an event per limit on each take and give: 8 of the 17 events and 2 of
    the 15 API calls a batch's VM cost the server (docs/scale-out.md)."""

    def __init__(self, client: PrefectClient, names: list[str], occupy: int, lease_id: UUID) -> None:
        self.client, self.names, self.occupy, self.lease_id = client, names, occupy, lease_id
        self.renewal: asyncio.Task[None] | None = None

    @classmethod
    async def take(cls, client: PrefectClient, names: list[str], occupy: int) -> SlotLease | None:
        """The slots under a new lease, kept renewed; None once the server's Retry-After has passed while a
        limit was full (the caller asks again)."""
        lease_id = await _new_lease(client, names, occupy)
        if lease_id is None:
            return None
        lease = cls(client, names, occupy, lease_id)
        lease.renewal = asyncio.create_task(lease._keep(), name=f"slot lease {lease_id}")
        return lease

    async def give_back(self) -> None:
        """End the renewal and release the slots. A server that cannot be reached frees them once the lease runs
        out; that does not fail the VM's cycle, which has ended."""
        if self.renewal is not None:
            self.renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.renewal
        try:
            await serially(self.client.release_concurrency_slots_with_lease(self.lease_id))
        except httpx.HTTPError as error:
            _logger().warning("Could not give back the slots of %s (%s); the Prefect server frees them when their "
                              "lease runs out, within %d s", ", ".join(self.names), error, SLOT_LEASE_S)

    async def _keep(self) -> None:
        """Renew the lease every 3/4 of it, as Prefect does. A renewal that fails is tried again every few seconds;
        a lease the server has let go (it could not be reached for the whole lease) is taken again, and meanwhile
        the limit may be exceeded by these slots, which the log says."""
        while True:
            await asyncio.sleep(SLOT_LEASE_S * RENEW_AT)
            while not await self._renewed():
                await asyncio.sleep(RENEW_RETRY_S)

    async def _renewed(self) -> bool:
        try:
            await serially(self.client.renew_concurrency_lease(self.lease_id, SLOT_LEASE_S))
            return True
        except httpx.HTTPStatusError as error:
            if error.response.status_code == LEASE_GONE:
                return await self._taken_again()
            return self._not_renewed(error)
        except httpx.HTTPError as error:
            return self._not_renewed(error)

    async def _taken_again(self) -> bool:
        _logger().warning("The lease of the slots of %s ran out while the Prefect server could not be reached; "
                          "taking them again (until then these limits may be exceeded by %d)",
                          ", ".join(self.names), self.occupy)
        try:
            while (lease_id := await _new_lease(self.client, self.names, self.occupy)) is None:
                pass
        except httpx.HTTPError as error:
            return self._not_renewed(error)
        self.lease_id = lease_id
        _logger().info("Took the slots of %s again", ", ".join(self.names))
        return True

    def _not_renewed(self, error: httpx.HTTPError) -> bool:
        _logger().warning("Could not renew the lease of the slots of %s (%s); trying again in %.0f s",
                          ", ".join(self.names), error, RENEW_RETRY_S)
        return False


async def _new_lease(client: PrefectClient, names: list[str], occupy: int) -> UUID | None:
    """A new lease of the slots, or None once the server's Retry-After has passed while a limit was full. The
    request goes on if the caller is cancelled meanwhile, and a lease it is granted is given back."""
    request = asyncio.ensure_future(serially(client.increment_concurrency_slots_with_lease(
        names, occupy, mode="concurrency", lease_duration=SLOT_LEASE_S)))
    try:
        response = await asyncio.shield(request)
    except httpx.HTTPStatusError as error:
        if error.response.status_code == LIMIT_FULL:
            await asyncio.sleep(float(error.response.headers.get("Retry-After", 1.0)))
            return None
        if error.response.status_code == TOO_MANY_SLOTS:
            raise SlotsRefused(f"{occupy} slots of each of {', '.join(names)} are asked for, more than one of "
                               "these limits has: raise it in the Prefect UI (Concurrency) or with `vmshift limits "
                               "setup`") from error
        raise
    except asyncio.CancelledError:
        request.add_done_callback(_give_back_if_granted)
        raise
    granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
    if missing := await _missing(client, set(names) - {limit.name for limit in granted.limits}):
        await serially(client.release_concurrency_slots_with_lease(granted.lease_id))
        raise SlotsRefused(f"the concurrency limits {', '.join(missing)} are not on the Prefect server, so they "
                           "would limit nothing: run `vmshift limits setup` (a wave creates the ones it takes)")
    return granted.lease_id


async def _missing(client: PrefectClient, unheld: set[str]) -> list[str]:
    """Which limits the server left out of a lease are not there at all; the others were switched off (inactive)
    in the UI, which means they limit nothing, on purpose."""
    missing = []
    for name in sorted(unheld):
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            missing.append(name)
    return missing


def _give_back_if_granted(request: asyncio.Future[httpx.Response]) -> None:
    if request.cancelled() or request.exception() is not None:
        return
    lease_id = ConcurrencyLimitWithLeaseResponse.model_validate(request.result().json()).lease_id

    async def give_back() -> None:
        async with get_client() as client:
            await client.release_concurrency_slots_with_lease(lease_id)
    _orphans.add(task := asyncio.get_running_loop().create_task(give_back()))
    task.add_done_callback(_orphans.discard)


_orphans: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to its tasks


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger (the UI shows it with the VM's run), or vmshift's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("vmshift.slots")
