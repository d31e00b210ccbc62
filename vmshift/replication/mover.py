"""Moving planned writes from a disk reader to a replica: a bounded pool of read-then-upload workers.

Each worker holds at most one chunk, and at most `concurrency` workers run, so memory stays under
concurrency times chunk size whatever the disk size; reads of some chunks overlap uploads of others.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vmshift.replication.digests import CHUNK, digests_of
from vmshift.replication.extents import MAX_PAGE_WRITE, SECTOR, DiskExtent
from vmshift.replication.reader import DiskReader

# A ledger slot further ahead than this was written before the clock was reset (a reboot): it is ignored.
STALE_LEDGER_S = 3600.0
# How often a write waiting its turn under the cap asks whether its VM was stopped: behind 300 VMs at 20 MB/s a
# turn can be minutes away, and a stop must not wait for it.
CAP_CHECK_S = 0.5


class DigestRecorder(Protocol):
    """Where the chunk digests of what the mover read go: a manifest's writer."""

    def record(self, extent: DiskExtent, entries: bytes) -> None: ...


class PageWriter(Protocol):
    """What the mover writes into: a replica page blob, or anything with the same two operations."""

    def upload_page(self, offset: int, data: bytes) -> None: ...

    def clear_page(self, offset: int, length: int) -> None: ...


@dataclass(frozen=True)
class MoverSettings:
    """How hard the mover pushes: workers, bytes per page write, and an optional cap in MB/s shared by
    every move of this process (one process is one appliance worker)."""

    concurrency: int = 8
    chunk_size: int = MAX_PAGE_WRITE
    bandwidth_mb_s: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        if self.bandwidth_mb_s is not None and self.bandwidth_mb_s <= 0:
            raise ValueError(f"bandwidth cap must be positive MB/s, not {self.bandwidth_mb_s}")
        if self.chunk_size % CHUNK:  # a write holds whole digest chunks: each is read entirely or not at all
            raise ValueError(f"write size must be a multiple of {CHUNK} bytes, not {self.chunk_size}")


@dataclass(frozen=True)
class WriteOutcome:
    """What one planned write did: payload bytes sent, bytes cleared or skipped as zero, or found equal."""

    extent: DiskExtent
    sent: int
    cleared: int
    skipped: int
    unchanged: int


@dataclass(frozen=True)
class MoveResult:
    bytes_sent: int
    bytes_cleared: int
    bytes_skipped: int
    bytes_unchanged: int
    writes: int


class BandwidthCap:
    """A token bucket shared by the workers: the appliance's upload cap, as Azure Migrate offers.

    With a ledger file, the bucket's state lives in that file under an exclusive lock, so that every process of
    the appliance (each Prefect flow run is one) draws on the same cap.
    """

    def __init__(
        self,
        mb_per_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ledger: Path | None = None,
    ) -> None:
        self.rate = mb_per_s * 1_000_000
        self._clock = clock
        self._sleep = sleep
        # Opened once: the ledger is read and written on every page write of the process.
        self._ledger = os.open(ledger, os.O_RDWR | os.O_CREAT, 0o600) if ledger is not None else None
        self._lock = threading.Lock()
        self._next_free = clock()

    def take(self, nbytes: int, check: Callable[[], None] | None = None) -> None:
        """Wait until sending nbytes keeps the average under the cap. While it waits, `check` runs every
        CAP_CHECK_S, and what it raises ends the wait: a stopped VM does not wait for its turn (the turn it
        reserved goes unused)."""
        with self._lock:
            now = self._clock()
            start = self._reserve(now, nbytes / self.rate)
        if check is None:
            if start > now:
                self._sleep(start - now)
            return
        while start > now:
            self._sleep(min(start - now, CAP_CHECK_S))
            check()
            now = self._clock()

    def _reserve(self, now: float, seconds: float) -> float:
        """The start of the next free slot of `seconds`, taken from the bucket (in memory or the ledger)."""
        if self._ledger is None:
            start = self._next_free = max(now, self._next_free)
            self._next_free += seconds
            return start
        fcntl.flock(self._ledger, fcntl.LOCK_EX)
        try:
            text = os.pread(self._ledger, 64, 0).strip()
            next_free = float(text) if text else now
            if next_free > now + STALE_LEDGER_S:  # written before a reboot reset the clock: nobody waits on it
                next_free = now
            start = max(now, next_free)
            os.ftruncate(self._ledger, 0)
            os.pwrite(self._ledger, repr(start + seconds).encode(), 0)
        finally:
            fcntl.flock(self._ledger, fcntl.LOCK_UN)
        return start


_appliance_caps: dict[float, BandwidthCap] = {}
_appliance_caps_lock = threading.Lock()


def appliance_cap(
    mb_per_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    ledger_dir: Path | None = None,
) -> BandwidthCap:
    """The appliance's one bucket for a rate: every disk and VM that the appliance moves at once, in any of its
    processes, shares it, since Azure Migrate's cap is per appliance, not per disk.

    Processes meet in a ledger file in `ledger_dir` (VMSHIFT_APPLIANCE_DIR, else the temporary folder). The first
    caller of a process for a rate creates the bucket (tests pass a fake clock and their own folder there).
    """
    with _appliance_caps_lock:
        cap = _appliance_caps.get(mb_per_s)
        if cap is None:
            folder = ledger_dir or Path(os.environ.get("VMSHIFT_APPLIANCE_DIR") or tempfile.gettempdir())
            # One ledger per boot: its slots are times of the monotonic clock, which a reboot starts again.
            ledger = folder / f"vmshift-bandwidth-{os.getuid()}-{_boot_id()}-{mb_per_s:g}MBps.ledger"
            cap = _appliance_caps[mb_per_s] = BandwidthCap(mb_per_s, clock, sleep, ledger)
        return cap


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: the stale-slot check is what is left
        return "boot"


_ZERO_WRITE = bytes(MAX_PAGE_WRITE)


def is_zero(data: bytes) -> bool:
    # strip() returns the same object untouched when the ends are non-zero: no copy for dense data. A whole write
    # of zeros is compared with zeros kept for it (one memcmp, no allocation), which strip() scans byte by byte.
    if len(data) == MAX_PAGE_WRITE:
        return data == _ZERO_WRITE
    return not data.strip(b"\0")


def _data_span(data: bytes) -> tuple[int, int]:
    """The whole sectors of a non-zero write from its first to its last non-zero byte."""
    lead = (len(data) - len(data.lstrip(b"\0"))) // SECTOR * SECTOR
    trail = (len(data) - len(data.rstrip(b"\0"))) // SECTOR * SECTOR
    return lead, len(data) - trail


def move(
    reader: DiskReader,
    target: PageWriter,
    writes: Iterable[DiskExtent],
    settings: MoverSettings,
    *,
    skip_zero: bool,
    unless_equal_to: DiskReader | None = None,
    on_written: Callable[[WriteOutcome], None] | None = None,
    digests: DigestRecorder | None = None,
    check_stop: Callable[[], None] | None = None,
) -> MoveResult:
    """Copy each planned write from reader to target; all-zero chunks are skipped (fresh blob) or cleared.

    Writes are taken from `writes` one at a time as workers free up, so a lazy plan stays lazy.

    With `digests`, each chunk read is digested from the bytes in hand (the source is read once) and recorded
    once its write is done, before `on_written`: a checkpoint then never covers a chunk whose digest is unsaved.

    With `unless_equal_to` (a resync), a chunk equal to the same range there is left alone;
    each worker then holds two chunks. `on_written` runs in the worker before its slot frees: a
    checkpoint that blocks there bounds the work a killed run redoes to the in-flight writes. `check_stop` runs
    while a write waits its turn under the bandwidth cap; what it raises ends the move, that write unsent.
    """
    cap = appliance_cap(settings.bandwidth_mb_s) if settings.bandwidth_mb_s else None

    def one(extent: DiskExtent) -> WriteOutcome:
        data = reader.read(extent.offset, extent.length)
        entries = digests_of(data) if digests is not None else None
        zero = entries == bytes(len(entries)) if entries is not None else is_zero(data)
        # Both chunks are in memory already: comparing them costs less than hashing each of them.
        if unless_equal_to is not None and data == unless_equal_to.read(extent.offset, extent.length):
            outcome = WriteOutcome(extent, 0, 0, 0, extent.length)
        elif zero:
            if skip_zero:
                outcome = WriteOutcome(extent, 0, 0, extent.length, 0)
            else:
                target.clear_page(extent.offset, extent.length)
                outcome = WriteOutcome(extent, 0, extent.length, 0, 0)
        else:
            # Into a fresh blob, the zero sectors around the data need no sending: its pages read as zeros already
            # (a write is whole 64 KiB chunks, wider than the data a sparse disk holds in them).
            start, end = _data_span(data) if skip_zero else (0, len(data))
            payload = data if (start, end) == (0, len(data)) else data[start:end]
            if cap:
                cap.take(len(payload), check_stop)
            target.upload_page(extent.offset + start, payload)
            outcome = WriteOutcome(extent, len(payload), 0, len(data) - len(payload), 0)
        del data
        if digests is not None and entries is not None:
            digests.record(extent, entries)
        if on_written:
            on_written(outcome)
        return outcome

    totals = _Totals(threading.Semaphore(settings.concurrency))
    with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="mover") as pool:
        for extent in writes:
            totals.slots.acquire()
            if totals.error is not None:
                totals.slots.release()
                break
            totals.writes += 1
            pool.submit(one, extent).add_done_callback(totals.collect)
    if totals.error is not None:
        raise totals.error
    return MoveResult(totals.sent, totals.cleared, totals.skipped, totals.unchanged, totals.writes)


class _Totals:
    """Outcomes gathered as workers finish; the first error stops new submissions."""

    def __init__(self, slots: threading.Semaphore) -> None:
        self.slots = slots
        self.lock = threading.Lock()
        self.sent = self.cleared = self.skipped = self.unchanged = 0
        self.writes = 0  # submitted; counted by the submitting thread only
        self.error: BaseException | None = None

    def collect(self, future: Future[WriteOutcome]) -> None:
        with self.lock:
            error = future.exception()
            if error is not None:
                self.error = self.error or error
            else:
                outcome = future.result()
                self.sent += outcome.sent
                self.cleared += outcome.cleared
                self.skipped += outcome.skipped
                self.unchanged += outcome.unchanged
        self.slots.release()
