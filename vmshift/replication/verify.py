"""Verification: a source disk, its replica and its manifest compared where either holds data, naming the first
offset where they differ. `vmshift verify` reads the source's allocated areas and the replica's pages only, so
that its cost follows the data, not the disk's size."""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from azure.storage.blob import BlobServiceClient

from vmshift.replication.checkpoint import Checkpointer, DiskProgress, remaining
from vmshift.replication.digests import CHUNK, DIGEST_SIZE, ZERO_ENTRY, chunk_digest, to_chunks
from vmshift.replication.disk_cycle import ALL_AREAS, OpenReader
from vmshift.replication.extents import MAX_PAGE_WRITE, DiskExtent, coalesce, split, total_bytes
from vmshift.replication.hygiene import check_no_other_run, check_snapshottable, remove_leftover_snapshots
from vmshift.replication.manifest import Manifest, ManifestMissing
from vmshift.replication.mover import WriteOutcome
from vmshift.replication.pageblob import BlobDiskReader
from vmshift.replication.readback import ChunkCheck, check_pieces
from vmshift.replication.reader import AllocatedReader, DiskReader
from vmshift.replication.settings import ReplicationSettings, open_clients
from vmshift.state.document import DiskCheckpoint, RecoveryPoint, VmState
from vmshift.vsphere import cbt, inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX


@dataclass(frozen=True)
class DiskComparison:
    equal: bool
    first_difference: int | None
    bytes_compared: int


@dataclass(frozen=True)
class ManifestComparison:
    """Source against replica byte for byte, and the replica's chunks against the manifest's entries."""

    first_difference: int | None  # first byte where source and replica differ
    manifest_difference: int | None  # first chunk whose replica bytes differ from the manifest's entry
    bytes_read: int  # from the source, the replica and the manifest

    @property
    def equal(self) -> bool:
        return self.first_difference is None and self.manifest_difference is None


def _block_digests(source: DiskReader, replica: DiskReader, offset: int, length: int) -> int | None:
    """The first differing offset inside the block, or None when the digests match."""
    ours, theirs = source.read(offset, length), replica.read(offset, length)
    if hashlib.sha256(ours).digest() == hashlib.sha256(theirs).digest():
        return None
    return offset + _first_difference(ours, theirs)


def _first_difference(ours: bytes, theirs: bytes) -> int:
    return next(i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b)


def compare_disks(
    source: DiskReader, replica: DiskReader, block_size: int = MAX_PAGE_WRITE, concurrency: int = 4
) -> DiskComparison:
    """Compare the source's bytes with the replica's first source.size bytes, `concurrency` blocks at a time."""
    if replica.size < source.size:
        return DiskComparison(False, replica.size, 0)
    blocks = [(o, min(block_size, source.size - o)) for o in range(0, source.size, block_size)]
    compared = 0
    with ThreadPoolExecutor(concurrency, thread_name_prefix="verify") as pool:
        for start in range(0, len(blocks), concurrency):
            window = blocks[start : start + concurrency]
            results = list(pool.map(lambda b: _block_digests(source, replica, *b), window))
            for (_offset, length), difference in zip(window, results, strict=True):
                if difference is not None:
                    return DiskComparison(False, difference, compared + (difference - _offset))
                compared += length
    return DiskComparison(True, None, compared)


def compare_with_manifest(
    source: AllocatedReader, replica: BlobDiskReader, manifest: Manifest, disk_size: int, concurrency: int = 4
) -> ManifestComparison:
    """Compare where the source is allocated, the replica holds pages or the manifest describes data; elsewhere all
    three are zeros and nothing is read. Stops at the first difference between source and replica."""
    if replica.written is None:
        raise ValueError("the replica reader must know its page ranges (PageBlobReplica.reader(only_written=True))")
    areas = to_chunks(source.allocated + replica.written, disk_size)
    pieces = list(split(areas, MAX_PAGE_WRITE))
    manifest_read_before = manifest.bytes_read
    manifest_difference = _entry_outside(manifest, areas, disk_size)

    def one(piece: DiskExtent) -> tuple[int | None, int | None]:
        """Where source and replica first differ in the piece, and the first chunk whose replica bytes are not
        what the manifest recorded: with both, the replica changed after it was written; with the first alone,
        the source changed since the cycle."""
        ours, theirs = source.read(piece.offset, piece.length), replica.read(piece.offset, piece.length)
        difference = piece.offset + _first_difference(ours, theirs) if ours != theirs else None
        entries, view = manifest.entries(piece, disk_size), memoryview(theirs)
        wrong_entry = next((piece.offset + i for n, i in enumerate(range(0, piece.length, CHUNK))
                            if chunk_digest(view[i : i + CHUNK]) != entries[n * DIGEST_SIZE : (n + 1) * DIGEST_SIZE]),
                           None)
        return difference, wrong_entry

    first_difference = None
    with ThreadPoolExecutor(concurrency, thread_name_prefix="verify") as pool:
        for start in range(0, len(pieces), concurrency):
            for difference, wrong_entry in pool.map(one, pieces[start : start + concurrency]):
                if wrong_entry is not None and (manifest_difference is None or wrong_entry < manifest_difference):
                    manifest_difference = wrong_entry
                if difference is not None:
                    first_difference = difference
                    break
            if first_difference is not None:
                break
    read = source.bytes_read + replica.bytes_downloaded + manifest.bytes_read - manifest_read_before
    return ManifestComparison(first_difference, manifest_difference, read)


def _entry_outside(manifest: Manifest, areas: list[DiskExtent], disk_size: int) -> int | None:
    """The first chunk the manifest records as data where neither the source nor the replica holds any: the
    replica lost pages it was written. Reads only the manifest's own pages."""
    for described in manifest.described(disk_size):
        entries = manifest.entries(described, disk_size)
        for n in range(len(entries) // DIGEST_SIZE):
            if entries[n * DIGEST_SIZE : (n + 1) * DIGEST_SIZE] != ZERO_ENTRY:
                chunk = DiskExtent(described.offset + n * CHUNK, CHUNK)
                index = bisect.bisect_right(areas, chunk.offset, key=lambda area: area.offset) - 1
                if index < 0 or areas[index].end <= chunk.offset:
                    return chunk.offset
    return None


def prove_copy(
    copy: DiskReader,
    pages: list[DiskExtent],
    manifest: Manifest,
    disk_size: int,
    *,
    proven: DiskCheckpoint | None = None,
    save: Callable[[DiskCheckpoint, list[DiskExtent]], None] | None = None,
    concurrency: int = 8,
) -> ChunkCheck:
    """A whole copy of a disk (an imported managed disk, through a frozen snapshot of it) against its manifest: only
    the copy's pages are read (its page ranges: unallocated regions cost nothing), each chunk compared with its
    entry; a chunk the manifest records as data where the copy holds no page is a mismatch as well. `pages`: the
    copy's page ranges (Get Page Ranges); `copy` need not read outside them.

    `proven`: the checkpoint of a run that stopped; what it covers is not read again. `save` gets, from a
    checkpointing thread, the checkpoint and the mismatches this run found so far, each time pieces were proven.
    """
    areas = to_chunks(pages, disk_size)
    lost = _entry_outside(manifest, areas, disk_size)
    todo = remaining(areas, proven)
    tracker = DiskProgress(total_bytes(todo))
    found: list[DiskExtent] = []
    lock = threading.Lock()

    def saved(checkpoint: DiskCheckpoint, _sent: int) -> None:
        if save is not None:
            with lock:
                so_far = list(found)
            save(checkpoint, so_far)

    with Checkpointer(tracker, saved) as checkpointer:
        def checked(piece: DiskExtent, bad: list[DiskExtent]) -> None:
            with lock:
                found.extend(bad)
            checkpointer.written(WriteOutcome(piece, 0, 0, 0, piece.length))

        pieces = tracker.track(split(todo, MAX_PAGE_WRITE))
        check = check_pieces(copy, manifest, pieces, disk_size, concurrency=concurrency, on_checked=checked)
    if lost is not None:
        check.mismatched = coalesce(sorted([*check.mismatched, DiskExtent(lost, min(CHUNK, disk_size - lost))]))
    return check


def _recovery_point(state: VmState, wanted: str) -> RecoveryPoint:
    matches = [p for p in state.recovery_points if wanted == str(p.cycle) or wanted in p.blob_snapshots.values()]
    if not matches:
        known = ", ".join(str(p.cycle) for p in state.recovery_points) or "none"
        raise ValueError(f"{state.vm} has no recovery point {wanted!r} (cycles kept: {known})")
    return matches[-1]


def verify_vm(
    vm_name: str,
    *,
    recovery_point: str | None = None,
    session: VSphereSession | None = None,
    blob_service: BlobServiceClient | None = None,
    settings: ReplicationSettings | None = None,
    open_reader: OpenReader = open_disk,
) -> dict:
    """Compare a fresh snapshot of the VM's disks with their replicas (or a recovery point, by its cycle number or
    blob snapshot id) and with their manifests; returns the `vmshift verify` JSON (DESIGN.md, Contracts).

    Equal only if the guest wrote nothing since that cycle's snapshot: run it on a quiet or stopped VM.
    """
    settings = settings or ReplicationSettings.from_env()
    session = session or connect(VCenterConfig.from_env())
    clients = open_clients(settings, blob_service)
    state = clients.store.load(vm_name).state
    check_no_other_run(state)
    if not state.disks:
        raise ValueError(f"{vm_name} has no replica yet: run `vmshift replicate --vm {vm_name}` first")
    point = _recovery_point(state, recovery_point) if recovery_point is not None else None
    vm = inventory.find_vm(session, vm_name)
    check_snapshottable(vm, vm_name)
    remove_leftover_snapshots(session, vm)
    snapshot = snapshots.create_snapshot(
        session, vm, f"{OWN_SNAPSHOT_PREFIX}{vm_name}-verify", description="vmshift verification; removed when it ends"
    )
    try:
        results = []
        for disk in [d for d in snapshots.snapshot_disks(snapshot) if state.replicates(d.key)]:
            key = str(disk.key)
            manifest = clients.manifest(vm_name, key)
            if point is not None:
                if key not in point.manifests:
                    raise ManifestMissing(f"recovery point {point.cycle} of {vm_name} has no manifest for disk {key} "
                                          "(taken before vmshift kept manifests): verify a later recovery point")
                manifest = manifest.at(point.manifests[key])
            if manifest.disk_size() is None:
                raise ManifestMissing(f"disk {key} of {vm_name} has no manifest: run `vmshift replicate --vm "
                                      f"{vm_name}`, whose cycle builds it, then verify")
            replica = clients.replica(vm_name, key).reader(point.blob_snapshots.get(key) if point else None,
                                                           only_written=True)
            allocated = [DiskExtent(a.start, a.length)
                         for a in cbt.changed_areas(session, vm, snapshot, disk.key, ALL_AREAS)]
            source = AllocatedReader(open_reader(session, disk.datastore_path, disk.capacity_bytes), allocated)
            comparison = compare_with_manifest(source, replica, manifest, disk.capacity_bytes,
                                               concurrency=clients.settings.mover.concurrency)
            footer_problem = replica.footer_problem()
            results.append({
                "key": disk.key,
                "equal": comparison.equal and footer_problem is None,
                "first_difference": comparison.first_difference,
                "manifest_difference": comparison.manifest_difference,
                "footer_problem": footer_problem,
                "bytes_read": comparison.bytes_read,
            })
    finally:
        snapshots.remove_snapshot(session, snapshot)
    return {"vm": vm_name, "equal": all(r["equal"] for r in results), "disks": results}
