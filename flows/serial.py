"""Prefect API writes made one at a time per process.

On a SQLite-backed server, concurrent writes (slot acquisitions, releases, artifacts, subflow runs) collide on
the database lock; the server answers 503 and the client waits ~2 s before trying again. Measured here: 20
concurrent slot acquisitions took 15 s, the same made one at a time take ~10 ms each. Each write is short,
so queueing them in the process costs far less than colliding. On PostgreSQL (the lab's server) the queue
costs nothing measurable: bench/orchestration.py gave the same wave time with and without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable
from typing import TypeVar

from vmshift.replication.cycle import CycleStopped

T = TypeVar("T")
STOP_CHECK_S = 1.0  # how soon a VM waiting for a slot notices a stop request

_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_lock() -> asyncio.Lock:
    """The lock of the running event loop (each `asyncio.run` has its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


async def serially(write: Awaitable[T]) -> T:
    """Await one API write while no other write of this process is in flight."""
    async with write_lock():
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
