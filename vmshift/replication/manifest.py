"""A disk's digest manifest: one 16-byte entry per 64 KiB chunk (digests.py), entry i at byte 16 * i of a page blob
kept beside the VM's state document. A page blob, so that a cycle rewrites only the entries of the chunks it read
(a delta costs what it changed, not the disk's size), every other entry carrying over as it is; an all-zero chunk's
entry is zeros, which a page blob stores as nothing. A blob snapshot of it belongs to each recovery point, taken and
pruned with the replica's.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from azure.storage.blob import BlobClient, ContainerClient

from vmshift.replication.digests import (
    CHUNK,
    DIGEST_NAME,
    DIGEST_SIZE,
    check_chunk_aligned,
    chunk_count,
)
from vmshift.replication.extents import MAX_PAGE_WRITE, SECTOR, DiskExtent, coalesce
from vmshift.replication.pageblob import OWNER_KEY, delete_snapshot, has_snapshot, properties_if_ours, put_page

PAGE = SECTOR
ENTRIES_PER_PAGE = PAGE // DIGEST_SIZE
ZERO_PAGE = bytes(PAGE)
DISK_SIZE_KEY = "vmshift_disk_bytes"
AUTO_FLUSH_ENTRIES = 8192  # entries a writer holds at most between flushes: 128 KiB, for 512 MiB of disk
KEPT_PAGES = 1024  # pages a writer holds (512 KiB): patched and read back without a request
PREFETCH_GAP = 8  # pages between two partly covered ones read in the same request (4 KiB)
FLUSH_CONCURRENCY = 8

T = TypeVar("T")
R = TypeVar("R")


class ManifestMissing(RuntimeError):
    """The manifest a check needs is not there (a recovery point from before manifests, or deleted)."""


def manifest_size(disk_size: int) -> int:
    """The page blob's size for a disk: its entries, rounded up to whole 512-byte pages."""
    return max(-(-chunk_count(disk_size) * DIGEST_SIZE // PAGE), 1) * PAGE


class Manifest:
    """The manifest page blob of one disk (or one of its snapshots, read-only); `owner` marks it as ours."""

    def __init__(self, container: ContainerClient, name: str, owner: str, snapshot: str | None = None) -> None:
        self.container = container
        self.name = name
        self.owner = owner
        self.snapshot_id = snapshot
        self.blob: BlobClient = container.get_blob_client(name, snapshot=snapshot)
        self.bytes_read = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.blob.url

    def disk_size(self) -> int | None:
        """The size of the disk it describes; None when there is no manifest."""
        properties = properties_if_ours(self.blob, self.owner, "manifest")
        return int(properties.metadata[DISK_SIZE_KEY]) if properties is not None else None

    def _metadata(self, disk_size: int) -> dict[str, str]:
        return {OWNER_KEY: self.owner, DISK_SIZE_KEY: str(disk_size), "vmshift_digest": DIGEST_NAME,
                "vmshift_chunk_bytes": str(CHUNK)}

    def start_over(self, disk_size: int) -> None:
        """An empty manifest (every chunk all-zero) for a disk of this size, created or emptied; snapshots kept."""
        if self.disk_size() is None:
            self.blob.create_page_blob(manifest_size(disk_size), metadata=self._metadata(disk_size))
            return
        self.blob.resize_blob(0)
        self.blob.resize_blob(manifest_size(disk_size))
        self.blob.set_blob_metadata(self._metadata(disk_size))

    def resize(self, disk_size: int) -> None:
        """Grow with a grown disk: the new chunks start all-zero, as the replica's new pages do."""
        self.blob.resize_blob(manifest_size(disk_size))
        self.blob.set_blob_metadata(self._metadata(disk_size))

    def writer(self, disk_size: int, *, fresh: bool) -> ManifestWriter:
        """A writer of entries; `fresh`: the manifest is empty and nobody else writes it, so nothing is read."""
        return ManifestWriter(self, disk_size, fresh)

    def read_pages(self, first_page: int, count: int) -> bytes:
        data = self.blob.download_blob(offset=first_page * PAGE, length=count * PAGE).readall()
        with self._lock:
            self.bytes_read += len(data)
        return data

    def entries(self, extent: DiskExtent, disk_size: int) -> bytes:
        """The entries of the chunks of a chunk-aligned extent, read from the pages that hold them."""
        check_chunk_aligned(extent, disk_size)
        first, end = extent.offset // CHUNK, -(-extent.end // CHUNK)
        first_page, end_page = first // ENTRIES_PER_PAGE, -(-end // ENTRIES_PER_PAGE)
        pages = self.read_pages(first_page, end_page - first_page)
        start = (first - first_page * ENTRIES_PER_PAGE) * DIGEST_SIZE
        return pages[start : start + (end - first) * DIGEST_SIZE]

    def described(self, disk_size: int) -> list[DiskExtent]:
        """The disk ranges whose entries the blob holds (its page ranges): every chunk outside is all-zero."""
        ranges = []
        for page in self.blob.list_page_ranges():
            first_chunk = page["start"] // DIGEST_SIZE
            end_chunk = (page["end"] + 1) // DIGEST_SIZE
            ranges.append(DiskExtent(first_chunk * CHUNK, min(end_chunk * CHUNK, disk_size) - first_chunk * CHUNK))
        return coalesce(r for r in ranges if r.length > 0)

    def snapshot(self) -> str:
        return self.blob.create_snapshot()["snapshot"]

    def at(self, snapshot_id: str) -> Manifest:
        return Manifest(self.container, self.name, self.owner, snapshot_id)

    def has_snapshot(self, snapshot_id: str) -> bool:
        return has_snapshot(self.container, self.name, snapshot_id)

    def delete_snapshot(self, snapshot_id: str) -> None:
        delete_snapshot(self.container, self.name, snapshot_id)


class ManifestWriter:
    """Takes entries as the mover's workers produce them and writes them in batches (`flush`), each batch as few
    page writes as its pages allow. A page only partly covered by a batch is read first, unless this writer wrote
    it lately or the manifest is fresh. Flushes are serial: two batches never patch one page at once."""

    def __init__(self, manifest: Manifest, disk_size: int, fresh: bool) -> None:
        self.manifest = manifest
        self.disk_size = disk_size
        self.fresh = fresh
        self._chunks = chunk_count(disk_size)
        self._pending: list[tuple[int, bytes]] = []
        self._pending_entries = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._kept: collections.OrderedDict[int, bytes] = collections.OrderedDict()

    def record(self, extent: DiskExtent, entries: bytes) -> None:
        """The entries of the chunks of a chunk-aligned extent, written at the next flush."""
        check_chunk_aligned(extent, self.disk_size)
        if len(entries) != chunk_count(extent.length) * DIGEST_SIZE:
            raise ValueError(f"{len(entries)} bytes of entries for {extent.length} bytes of disk")
        with self._lock:
            self._pending.append((extent.offset // CHUNK, entries))
            self._pending_entries += len(entries) // DIGEST_SIZE
            full = self._pending_entries >= AUTO_FLUSH_ENTRIES
        if full:
            self.flush()

    def flush(self) -> None:
        """Write every entry recorded so far; once it returns, they are in the manifest."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending, self._pending_entries = self._pending, [], 0
            if not pending:
                return
            # Each page patched: its new entries, and which of its slots they fill (a bit per slot).
            patched: dict[int, bytearray] = {}
            filled: dict[int, int] = {}
            for first, entries in pending:
                count, i = len(entries) // DIGEST_SIZE, 0
                while i < count:
                    index, slot = divmod(first + i, ENTRIES_PER_PAGE)
                    take = min(ENTRIES_PER_PAGE - slot, count - i)
                    page = patched.setdefault(index, bytearray(PAGE))
                    page[slot * DIGEST_SIZE : (slot + take) * DIGEST_SIZE] = \
                        entries[i * DIGEST_SIZE : (i + take) * DIGEST_SIZE]
                    filled[index] = filled.get(index, 0) | ((1 << take) - 1) << slot
                    i += take
            unknown = [index for index in sorted(patched) if not self._known(index, filled[index])]
            before = self._read(unknown)
            pages: dict[int, bytes] = {}
            for index, page in patched.items():
                old = self._kept.get(index) or before.get(index) or ZERO_PAGE
                for slot in range(ENTRIES_PER_PAGE):
                    if not filled[index] >> slot & 1:
                        page[slot * DIGEST_SIZE : (slot + 1) * DIGEST_SIZE] = \
                            old[slot * DIGEST_SIZE : (slot + 1) * DIGEST_SIZE]
                pages[index] = bytes(page)
            self._write(pages)

    def prefetch(self, areas: list[DiskExtent]) -> None:
        """Read ahead, in few requests and side by side, the pages that writes of these chunk-aligned areas cover
        only partly: a flush then patches them without a read. A delta of scattered blocks touches one page per
        block; read one by one in the checkpointing thread, they would hold every write up."""
        if self.fresh:
            return
        partial = sorted({index for area in areas for index in self._partly_covered(area)} - set(self._kept))
        if not partial or len(partial) > KEPT_PAGES:
            return
        runs: list[list[int]] = []
        for index in partial:
            if runs and index - runs[-1][-1] <= PREFETCH_GAP:
                runs[-1].extend(range(runs[-1][-1] + 1, index + 1))
            else:
                runs.append([index])
        blocks = _each(lambda run: self.manifest.read_pages(run[0], len(run)), runs)
        for run, block in zip(runs, blocks, strict=True):
            for i, index in enumerate(run):
                self._keep(index, block[i * PAGE : (i + 1) * PAGE])

    def _partly_covered(self, area: DiskExtent) -> list[int]:
        first, end = area.offset // CHUNK, -(-area.end // CHUNK)
        edges = {first // ENTRIES_PER_PAGE, (end - 1) // ENTRIES_PER_PAGE}
        return [index for index in edges
                if max(first, index * ENTRIES_PER_PAGE) > index * ENTRIES_PER_PAGE
                or min(end, (index + 1) * ENTRIES_PER_PAGE, self._chunks) < min((index + 1) * ENTRIES_PER_PAGE,
                                                                                self._chunks)]

    def entries(self, extent: DiskExtent) -> bytes:
        """The entries of a chunk-aligned extent as this writer last wrote them, read from the manifest when it
        no longer holds all of their pages."""
        check_chunk_aligned(extent, self.disk_size)
        first, end = extent.offset // CHUNK, -(-extent.end // CHUNK)
        indexes = range(first // ENTRIES_PER_PAGE, -(-end // ENTRIES_PER_PAGE))
        if not all(index in self._kept for index in indexes):
            return self.manifest.entries(extent, self.disk_size)
        pages = b"".join(self._kept[index] for index in indexes)
        start = (first - indexes[0] * ENTRIES_PER_PAGE) * DIGEST_SIZE
        return pages[start : start + (end - first) * DIGEST_SIZE]

    def _keep(self, index: int, page: bytes) -> None:
        self._kept[index] = page
        self._kept.move_to_end(index)
        while len(self._kept) > KEPT_PAGES:
            self._kept.popitem(last=False)

    def _known(self, index: int, filled: int) -> bool:
        """Whether the page's other entries are known without reading it."""
        in_use = min(ENTRIES_PER_PAGE, self._chunks - index * ENTRIES_PER_PAGE)
        return self.fresh or index in self._kept or filled & (1 << in_use) - 1 == (1 << in_use) - 1

    def _read(self, indexes: list[int]) -> dict[int, bytes]:
        runs = _runs(indexes, MAX_PAGE_WRITE // PAGE)
        blocks = _each(lambda run: self.manifest.read_pages(run[0], len(run)), runs)
        return {index: block[i * PAGE : (i + 1) * PAGE] for run, block in zip(runs, blocks, strict=True)
                for i, index in enumerate(run)}

    def _write(self, pages: dict[int, bytes]) -> None:
        # Zero pages are cleared, not sent (or left alone in a fresh manifest that never held them).
        data = [i for i in sorted(pages) if pages[i] != ZERO_PAGE]
        zero = [i for i in sorted(pages) if pages[i] == ZERO_PAGE and not (self.fresh and i not in self._kept)]
        blob, what = self.manifest.blob, f"manifest of {self.manifest.owner}"

        def put(run: list[int]) -> None:
            put_page(blob, run[0] * PAGE, b"".join(pages[i] for i in run), what)

        def clear(run: list[int]) -> None:
            blob.clear_page(offset=run[0] * PAGE, length=len(run) * PAGE)

        limit = MAX_PAGE_WRITE // PAGE
        jobs = [(put, run) for run in _runs(data, limit)] + [(clear, run) for run in _runs(zero, limit)]
        _each(lambda job: job[0](job[1]), jobs)
        for index, page in pages.items():
            self._keep(index, page)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _each(work: Callable[[T], R], items: list[T]) -> list[R]:
    """work on each item, side by side when there are several (a batch of scattered pages), in threads kept for
    the process: a pool made per flush would start threads by the thousand on a large disk, and each new thread
    can take a malloc arena of its own that keeps what the mover's buffers freed there."""
    global _pool
    if len(items) <= 1:
        return [work(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FLUSH_CONCURRENCY, thread_name_prefix="manifest")
    return list(_pool.map(work, items))


def _runs(indexes: list[int], limit: int) -> list[list[int]]:
    """Sorted indexes cut into runs of consecutive ones, at most `limit` long."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1 and len(runs[-1]) < limit:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs
