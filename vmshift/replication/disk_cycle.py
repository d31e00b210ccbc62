"""One disk's part of a replication cycle: what to copy (CBT's changed areas since the last cycle, a digest resync
when CBT cannot say, what a crashed run left, chunks a read-back found wrong), the copy itself, checkpointed, with
each chunk's digest into the disk's manifest as it is read, then the read-back of what the cycle wrote."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyVmomi import vim

from vmshift.replication.checkpoint import Checkpointer, DiskProgress, remaining
from vmshift.replication.digests import to_chunks
from vmshift.replication.extents import DiskExtent, coalesce, split, total_bytes
from vmshift.replication.manifest import Manifest, ManifestWriter
from vmshift.replication.mover import MoveResult, MoverSettings, WriteOutcome, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.readback import ChunkCheck, Mirror, MirroredReader, check_ranges
from vmshift.replication.reader import DiskReader
from vmshift.replication.resync import resync_disk
from vmshift.state.document import CycleInProgress, DiskCheckpoint, DiskState
from vmshift.vsphere import cbt, snapshots
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import ChangeIdRefused

log = logging.getLogger(__name__)

ALL_AREAS = "*"  # QueryChangedDiskAreas' changeId for "every allocated area"

OpenReader = Callable[[VSphereSession, str, int], DiskReader]


@dataclass(frozen=True)
class DiskOutcome:
    """What one disk's part of the cycle did: its kind, the mover's figures, the changed bytes and the read-back."""

    kind: str
    moved: MoveResult
    changed_bytes: int
    source_bytes_read: int
    read_back: ChunkCheck


@dataclass(frozen=True)
class CycleContext:
    """What a VM's cycle lends each of its disks: the source snapshot, the progress record and how to save it."""

    vm_name: str
    session: VSphereSession
    vm: vim.VirtualMachine
    snapshot: vim.vm.Snapshot
    progress: CycleInProgress
    settings: MoverSettings
    open_reader: OpenReader
    save: Callable[[], None]
    check_stop: Callable[[], None]
    on_progress: Callable[[float], None]
    mirrors: Mapping[str, Mirror] = field(default_factory=dict)  # by disk key: where the read-back also writes


def replicate_disk(
    cycle: CycleContext,
    disk: snapshots.SnapshotDisk,
    replica: PageBlobReplica,
    manifest: Manifest,
    known: DiskState,
    crashed_change_id: str | None,
    fresh: bool,
    percent: Callable[[float], float],
) -> DiskOutcome:
    """One disk: CBT areas when the changeId holds, else a digest resync; resumes from a checkpoint; then what
    the cycle wrote (in this run and any it resumes) is read back and checked against the manifest."""
    key, capacity = str(disk.key), disk.capacity_bytes
    settings = cycle.settings
    checkpoint = cycle.progress.checkpoints.get(key)
    base = known.change_id if known.capacity_bytes == capacity else None
    # A resync asked for (a cycle of kind "resync") compares the disk whole, as one whose changeId no longer holds.
    resync = known.change_id is not None and (base is None or cycle.progress.kind == "resync")
    described = manifest.disk_size()
    fresh_manifest = fresh or described is None
    if fresh_manifest:
        if not fresh:
            log.warning("the replica of %s disk %s has no manifest (written before vmshift kept them, or it was "
                        "deleted): comparing the disk whole once, which digests every chunk", cycle.vm_name, key)
            resync, checkpoint = True, None
        manifest.start_over(capacity)
    elif described != capacity:
        manifest.resize(capacity)
    whole = [DiskExtent(0, capacity)]
    try:
        changed = whole if resync else _changed(cycle, disk.key, base or ALL_AREAS)
    except ChangeIdRefused:
        resync, changed = True, whole
    areas = changed
    if checkpoint is not None:
        # A resumed cycle: what the crashed run did not finish, plus what changed since its snapshot.
        try:
            since_crash = _changed(cycle, disk.key, crashed_change_id) if crashed_change_id else []
            areas = remaining(changed, checkpoint) + since_crash
        except ChangeIdRefused:
            resync, changed, areas = True, whole, whole
    rewrite = [DiskExtent(offset, length) for offset, length in known.rewrite]
    planned = to_chunks(areas + rewrite, capacity)
    digests = manifest.writer(capacity, fresh=fresh_manifest)
    digests.prefetch(planned)
    moved = _copy(cycle, disk, replica, digests, planned, resync=resync,
                  skip_zero=fresh and checkpoint is None and base is None, percent=percent)
    # Only what the cycle wrote is read back; a resync's plan is the whole disk, so only the replica's pages.
    reader = replica.reader(only_written=resync)
    if key in cycle.mirrors:
        reader = MirroredReader(reader, cycle.mirrors[key])
    check = check_ranges(reader, manifest, coalesce(changed + rewrite), capacity,
                         concurrency=settings.concurrency, entries_of=digests.entries)
    known.rewrite = [(extent.offset, extent.length) for extent in check.mismatched]
    kind = "resync" if resync else "delta" if base else "initial"
    disk_changed = moved.bytes_sent + moved.bytes_cleared if resync else total_bytes(planned)
    return DiskOutcome(kind, moved, disk_changed, total_bytes(planned), check)


def _copy(
    cycle: CycleContext,
    disk: snapshots.SnapshotDisk,
    replica: PageBlobReplica,
    digests: ManifestWriter,
    planned: list[DiskExtent],
    *,
    resync: bool,
    skip_zero: bool,
    percent: Callable[[float], float],
) -> MoveResult:
    """The planned chunks copied from the snapshot's disk, their digests into the manifest, checkpointed."""
    key, settings = str(disk.key), cycle.settings
    reader = cycle.open_reader(cycle.session, disk.datastore_path, disk.capacity_bytes)
    tracker = DiskProgress(total_bytes(planned))
    writes = tracker.track(split(planned, settings.chunk_size))

    def save(done: DiskCheckpoint, _sent: int) -> None:
        digests.flush()  # a checkpoint never covers a chunk whose digest is not in the manifest
        cycle.progress.checkpoints[key] = done
        cycle.progress.percent_done = round(percent(tracker.fraction_done), 1)
        cycle.save()
        cycle.on_progress(cycle.progress.percent_done)

    with Checkpointer(tracker, save) as checkpointer:
        def written(outcome: WriteOutcome) -> None:
            checkpointer.written(outcome)
            cycle.check_stop()

        if resync:
            result = resync_disk(reader, replica, settings, writes, on_written=written, digests=digests,
                                 check_stop=cycle.check_stop)
        else:
            result = move(reader, replica, writes, settings, skip_zero=skip_zero, on_written=written,
                          digests=digests, check_stop=cycle.check_stop)
    digests.flush()
    cycle.progress.checkpoints[key] = DiskCheckpoint(resume_offset=disk.capacity_bytes, finished=True)
    cycle.save()
    return result


def _changed(cycle: CycleContext, key: int, change_id: str) -> list[DiskExtent]:
    areas = cbt.changed_areas(cycle.session, cycle.vm, cycle.snapshot, key, change_id)
    return [DiskExtent(a.start, a.length) for a in areas]
