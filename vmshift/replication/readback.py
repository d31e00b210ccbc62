"""Checking a copy of a disk against its manifest, range by range: the bytes read from the copy are digested chunk
by chunk and compared with the entries the mover recorded from the source. Reading only the ranges asked for, so
that checking what a cycle wrote costs what it changed, not what the disk holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from vmshift.replication.digests import CHUNK, DIGEST_SIZE, chunk_digest, to_chunks
from vmshift.replication.extents import MAX_PAGE_WRITE, DiskExtent, coalesce, split
from vmshift.replication.manifest import Manifest
from vmshift.replication.reader import DiskReader

# Gets each piece a check read (its offset, its bytes): a second copy written from the same read.
Mirror = Callable[[int, bytes], None]

LISTED_MISMATCHES = 1024  # chunks named at most: past that, the copy is broadly wrong and the first ones say so


@dataclass
class ChunkCheck:
    """What a check read and found; `mismatched`: chunks whose bytes differ from their entry, in offset order."""

    bytes_checked: int = 0
    manifest_bytes_read: int = 0
    seconds: float = 0.0
    mismatched: list[DiskExtent] = field(default_factory=list)

    @property
    def first_mismatch(self) -> int | None:
        return self.mismatched[0].offset if self.mismatched else None


def check_ranges(
    copy: DiskReader,
    manifest: Manifest,
    areas: Iterable[DiskExtent],
    disk_size: int,
    *,
    concurrency: int = 8,
    entries_of: Callable[[DiskExtent], bytes] | None = None,
) -> ChunkCheck:
    """Read `areas` (widened to whole chunks) from `copy` and compare each chunk with the manifest's entry.
    `entries_of` gives a piece's entries (default: read from the manifest), e.g. a writer's, as it wrote them."""
    pieces = split(to_chunks(areas, disk_size), MAX_PAGE_WRITE)
    return check_pieces(copy, manifest, pieces, disk_size, concurrency=concurrency, entries_of=entries_of)


def check_pieces(
    copy: DiskReader,
    manifest: Manifest,
    pieces: Iterable[DiskExtent],
    disk_size: int,
    *,
    concurrency: int = 8,
    on_checked: Callable[[DiskExtent, list[DiskExtent]], None] | None = None,
    entries_of: Callable[[DiskExtent], bytes] | None = None,
) -> ChunkCheck:
    """Check chunk-aligned pieces of at most 4 MiB, taken one at a time as workers free up: at most `concurrency`
    are in memory at once. `on_checked` gets each piece checked and its mismatched chunks, from the worker that
    checked it, before its slot frees (a progress record: a rerun need not read it again)."""
    started = time.monotonic()
    manifest_read_before = manifest.bytes_read
    result = ChunkCheck()
    lock = threading.Lock()
    slots = threading.Semaphore(concurrency)
    errors: list[BaseException] = []

    def one(piece: DiskExtent) -> None:
        data = copy.read(piece.offset, piece.length)
        entries = entries_of(piece) if entries_of is not None else manifest.entries(piece, disk_size)
        view = memoryview(data)
        bad = [
            DiskExtent(piece.offset + i, min(CHUNK, piece.length - i))
            for n, i in enumerate(range(0, piece.length, CHUNK))
            if chunk_digest(view[i : i + CHUNK]) != entries[n * DIGEST_SIZE : (n + 1) * DIGEST_SIZE]
        ]
        if on_checked is not None:
            on_checked(piece, bad)
        with lock:
            result.bytes_checked += piece.length
            result.mismatched.extend(bad)

    def done(future: Future[None]) -> None:
        if future.exception() is not None:
            errors.append(future.exception())
        slots.release()

    with ThreadPoolExecutor(concurrency, thread_name_prefix="readback") as pool:
        for piece in pieces:
            slots.acquire()
            if errors:
                slots.release()
                break
            pool.submit(one, piece).add_done_callback(done)
    if errors:
        raise errors[0]
    result.mismatched = coalesce(sorted(result.mismatched)[:LISTED_MISMATCHES])
    result.manifest_bytes_read = manifest.bytes_read - manifest_read_before
    result.seconds = time.monotonic() - started
    return result


class MirroredReader:
    """A reader whose every read also goes to `mirror`: the cutover's final delta fills the VM's managed disks with
    the bytes its read-back reads anyway, so that the outage reads from Azure only once what the delta changed."""

    def __init__(self, reader: DiskReader, mirror: Mirror) -> None:
        self.reader = reader
        self.size = reader.size
        self.mirror = mirror

    def read(self, offset: int, length: int) -> bytes:
        data = self.reader.read(offset, length)
        self.mirror(offset, data)
        return data
