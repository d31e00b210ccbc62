"""One replication cycle of a VM: initial, delta or resync, from a vSphere snapshot into page blobs.

Order and hygiene (Forklift traced guest corruption to getting these wrong): a leftover vmshift snapshot
is removed before a new one is taken, so a VM never carries two; the cycle's snapshot is removed when
the cycle ends, failed or not (unless a cutover's final delta keeps it to verify against); the changeIds of
the snapshot's disks are saved before the snapshot goes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from pyVmomi import vim, vmodl

from vmshift.replication.checkpoint import Checkpointer, DiskProgress, remaining
from vmshift.replication.extents import DiskExtent, coalesce, plan_areas, split, total_bytes
from vmshift.replication.mover import MoveResult, MoverSettings, WriteOutcome, move
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.reader import DiskReader
from vmshift.replication.recovery_points import prune_recovery_points, take_recovery_point
from vmshift.replication.resync import resync_disk
from vmshift.replication.storage import blob_service_client
from vmshift.replication.verify import compare_disks
from vmshift.state.document import Claim, CycleInProgress, DiskCheckpoint, DiskState, LastCycle, VmState
from vmshift.state.store import StateStore, StoredState
from vmshift.vsphere import cbt, inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import (
    ChangeIdRefused,
    ChangeTrackingInactive,
    ConsolidationNeeded,
    ForeignSnapshots,
    SnapshotError,
)
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

log = logging.getLogger(__name__)

ALL_AREAS = "*"  # QueryChangedDiskAreas' changeId for "every allocated area"

OpenReader = Callable[[VSphereSession, str, int], DiskReader]


class ReplicationInProgress(RuntimeError):
    """Another vmshift run is replicating this VM right now."""


class CycleStopped(RuntimeError):
    """The cycle was asked to stop (its VM's run was cancelled): what it wrote is checkpointed, and the next
    cycle of the VM resumes from there."""


@dataclass(frozen=True)
class ReplicationSettings:
    """Where replicas and state go, and how the mover runs; `from_env` reads the appliance's settings."""

    cache_account: str
    replica_container: str = "vmshift-replicas"
    state_container: str = "vmshift-state"
    mover: MoverSettings = field(default_factory=MoverSettings)
    keep_recovery_points: int = 3

    @classmethod
    def from_env(cls, cache_account: str | None = None) -> ReplicationSettings:
        account = cache_account or os.environ.get("VMSHIFT_CACHE_ACCOUNT")
        if not account:
            raise ValueError("no cache storage account: pass one or set VMSHIFT_CACHE_ACCOUNT")
        cap = os.environ.get("VMSHIFT_BANDWIDTH_MB_S")
        mover = MoverSettings(
            concurrency=int(os.environ.get("VMSHIFT_REPLICATION_CONCURRENCY", "8")),
            bandwidth_mb_s=float(cap) if cap else None,
        )
        return cls(account, mover=mover, keep_recovery_points=int(os.environ.get("VMSHIFT_RECOVERY_POINTS", "3")))


@dataclass
class _Clients:
    store: StateStore
    blob_service: BlobServiceClient
    settings: ReplicationSettings

    def replica(self, vm: str, key: str) -> PageBlobReplica:
        container = self.blob_service.get_container_client(self.settings.replica_container)
        return PageBlobReplica(container, f"{vm}/disk-{key}.vhd", owner=f"{vm}/disk-{key}")


def _clients(settings: ReplicationSettings, blob_service: BlobServiceClient | None) -> _Clients:
    service = blob_service or blob_service_client(settings.cache_account)
    for name in (settings.replica_container, settings.state_container):
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)
    return _Clients(StateStore(service.get_container_client(settings.state_container)), service, settings)


def _percent_done(capacity_before: int, capacity: int, capacity_total: int, disk_fraction: float) -> float:
    """The cycle's progress: each disk weighs its capacity, the disks before this one are done."""
    return 100 * (capacity_before + capacity * disk_fraction) / capacity_total


def _check_no_other_run(state: VmState) -> None:
    claim = state.in_progress.claim if state.in_progress else None
    if claim is not None and claim.is_live():
        raise ReplicationInProgress(
            f"{state.vm} is being replicated by run {claim.run_id} (pid {claim.pid} on {claim.host}, "
            f"heartbeat {claim.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); wait for it or stop it first"
        )


def has_snapshots(session: VSphereSession, vm: vim.VirtualMachine) -> bool:
    """Whether the VM has any snapshot, asked through the property collector: an unset `snapshot` property
    then comes back absent, where a direct read of it fails on govmomi's simulator (0.24)."""
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vm)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=["snapshot"])],
    )
    contents = session.content.propertyCollector.RetrieveContents([spec])
    return any(prop.name == "snapshot" and prop.val for item in contents for prop in item.propSet)


def _remove_leftover_snapshots(session: VSphereSession, vm: vim.VirtualMachine) -> list[str]:
    """Remove snapshots a crashed vmshift run left, so that the VM never carries two of ours."""
    removed: list[str] = []
    if not has_snapshots(session, vm):
        return removed
    for snapshot in snapshots.find_snapshots(vm, OWN_SNAPSHOT_PREFIX):
        removed.append(snapshot._moId)
        snapshots.remove_snapshot(session, snapshot)
    return removed


def _check_snapshottable(vm: vim.VirtualMachine, name: str) -> None:
    """Refuse before snapshotting a VM whose disks are not where a snapshot of ours would freeze them."""
    if vm.runtime.consolidationNeeded:
        raise ConsolidationNeeded(
            f"{name} needs disk consolidation (vSphere: Snapshot > Consolidate); vmshift will not snapshot it "
            "again until that is done"
        )
    foreign = inventory.foreign_snapshots(vm)
    if foreign:
        raise ForeignSnapshots(
            f"{name} has snapshots vmshift did not take ({', '.join(foreign)}): its disks run on their redo logs, "
            "which datastore reads of the base disk would miss; delete them in vCenter (Snapshots > Manage "
            "Snapshots), then run again"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_time(vm: vim.VirtualMachine, snapshot: vim.vm.Snapshot) -> dt.datetime:
    """When vSphere froze the disks (the snapshot tree's createTime): the time a recovery point restores to."""
    tree = snapshots.snapshot_tree(vm, snapshot._moId)
    if tree is not None:
        return tree.createTime
    raise SnapshotError(f"snapshot {snapshot._moId} of {vm.name} is not in its snapshot tree: it was removed while "
                        "the cycle was starting; run the cycle again")


_THOROUGHNESS = ("delta", "initial", "resync")  # a cycle is named after its most thorough disk


def replicate_once(
    vm_name: str,
    *,
    session: VSphereSession | None = None,
    blob_service: BlobServiceClient | None = None,
    settings: ReplicationSettings | None = None,
    open_reader: OpenReader = open_disk,
    stop: threading.Event | None = None,
    on_progress: Callable[[float], None] = lambda percent: None,
    keep_snapshot: bool = False,
) -> dict:
    """Run one cycle for the VM now; returns the `vmshift replicate` JSON (DESIGN.md, Contracts).

    Once `stop` is set, the cycle raises CycleStopped after its writes in flight are checkpointed.
    `on_progress` gets the percent done at each checkpoint, from the checkpointing thread.
    `keep_snapshot`: a cycle that succeeds leaves its snapshot for the caller to read the disks as they were
    replicated (the cutover's verification of a source left running) and to remove; the report names it
    (`kept_snapshot`, its moref). A failed cycle removes it as always; a leftover goes with the next cycle.
    """
    settings = settings or ReplicationSettings.from_env()
    session = session or connect(VCenterConfig.from_env())
    clients = _clients(settings, blob_service)
    cycle = _Cycle(vm_name, session, clients, open_reader, stop or threading.Event(), on_progress)
    return cycle.run(keep_snapshot=keep_snapshot)


class _Cycle:
    def __init__(
        self,
        vm_name: str,
        session: VSphereSession,
        clients: _Clients,
        open_reader: OpenReader,
        stop: threading.Event,
        on_progress: Callable[[float], None],
    ) -> None:
        self.vm_name = vm_name
        self.session = session
        self.clients = clients
        self.open_reader = open_reader
        self.stop = stop
        self.on_progress = on_progress
        self.stored: StoredState = clients.store.load(vm_name)
        self.vm: vim.VirtualMachine | None = None

    @property
    def state(self) -> VmState:
        return self.stored.state

    def save(self) -> None:
        if self.state.in_progress is not None and self.state.in_progress.claim is not None:
            self.state.in_progress.claim.heartbeat_at = _now()
        self.clients.store.save(self.stored)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise CycleStopped(f"the replication cycle of {self.vm_name} was stopped on request; what it copied "
                               f"is kept, and its next cycle (`vmshift replicate --vm {self.vm_name}` or the wave) "
                               "resumes from there")

    def run(self, keep_snapshot: bool = False) -> dict:
        started = time.monotonic()
        self.check_stop()
        _check_no_other_run(self.state)
        vm = self.vm = inventory.find_vm(self.session, self.vm_name)
        try:
            _check_snapshottable(vm, self.vm_name)
        except (ConsolidationNeeded, ForeignSnapshots) as error:
            self.state.error = str(error)
            self.save()
            raise
        previous = self.state.in_progress
        claim = Claim(run_id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), heartbeat_at=_now())
        if previous is not None:
            previous.claim = claim
            progress = previous
        else:
            initial = not any(d.change_id for d in self.state.disks.values())
            progress = CycleInProgress(
                cycle=self.state.cycles + 1, kind="initial" if initial else "delta", started_at=_now(), claim=claim
            )
        self.state.in_progress = progress
        self.state.phase = "replicating"
        self.save()  # the claim: a second run that read the same ETag stops here with StateConflict
        try:
            leftovers = _remove_leftover_snapshots(self.session, vm)
            if not all(disk.cbt for disk in inventory.vm_disks(vm)):
                cbt.enable_cbt(self.session, vm)
            self.check_stop()
            snapshot = snapshots.create_snapshot(
                self.session,
                vm,
                f"{OWN_SNAPSHOT_PREFIX}{self.vm_name}-cycle-{progress.cycle}",
                description="vmshift replication cycle; removed when the cycle ends (a cutover's final one: when "
                            "its verification ends)",
            )
            snapshot_time = _create_time(vm, snapshot)
            kept = False
            try:
                report = self._replicate(snapshot, snapshot_time, started)
                kept = keep_snapshot
            finally:
                if not kept:
                    snapshots.remove_snapshot(self.session, snapshot)
        except BaseException as error:
            self._record_failure(error)
            raise
        if kept:
            report["kept_snapshot"] = snapshot._moId
        return {**report, "leftover_snapshots_removed": leftovers}

    def _record_failure(self, error: BaseException) -> None:
        """Keep the checkpoints for the next run, release the claim, say what went wrong."""
        try:
            if self.state.in_progress is not None:
                self.state.in_progress.claim = None
            self.state.phase = "stopped" if isinstance(error, CycleStopped) else "failed"
            self.state.error = f"{type(error).__name__}: {error}"
            self.save()
        except Exception:  # the original error matters more; a stale claim is recognised by its pid
            pass

    def _replicate(self, snapshot: vim.vm.Snapshot, snapshot_time: dt.datetime, started: float) -> dict:
        progress = self.state.in_progress
        assert progress is not None
        disks = snapshots.snapshot_disks(snapshot)
        untracked = [d.key for d in disks if not d.change_id]
        if untracked:
            raise ChangeTrackingInactive(
                f"the snapshot of {self.vm_name} carries no changeId for disks {untracked}: CBT is not active on "
                "them; check that the VM's CBT setting stuck (ctkEnabled) and run the cycle again"
            )
        crashed_snapshot_ids = dict(progress.snapshot_change_ids)
        progress.snapshot_change_ids = {str(d.key): d.change_id for d in disks}
        self.save()
        sent = changed = 0
        disk_kinds: dict[str, str] = {}
        replicas = {}
        capacity_total, capacity_done = sum(d.capacity_bytes for d in disks) or 1, 0
        for disk in disks:
            key = str(disk.key)
            replica = self.clients.replica(self.vm_name, key)
            replicas[key] = replica
            known = self.state.disks.get(key)
            fresh = replica.ensure(disk.capacity_bytes)
            if known is None:
                known = DiskState(key=disk.key, blob_name=replica.name, capacity_bytes=disk.capacity_bytes)
                self.state.disks[key] = known
            known.blob_url = replica.url
            fresh = self._check_replica_identity(replica, known, disk.capacity_bytes, fresh)
            checkpoint = progress.checkpoints.get(key)
            percent = functools.partial(_percent_done, capacity_done, disk.capacity_bytes, capacity_total)
            disk_kinds[key], result, disk_changed = self._replicate_disk(
                snapshot, disk, replica, known, checkpoint, crashed_snapshot_ids.get(key), fresh, percent
            )
            capacity_done += disk.capacity_bytes
            sent += result.bytes_sent
            changed += disk_changed
            known.capacity_bytes = disk.capacity_bytes
        # The changeIds go into the state before the snapshot they belong to is removed.
        for disk in disks:
            self.state.disks[str(disk.key)].change_id = disk.change_id
        kind = max(disk_kinds.values(), key=_THOROUGHNESS.index, default=progress.kind)
        progress.bytes_sent += sent
        progress.changed_bytes += changed
        self.state.cycles = progress.cycle
        point = take_recovery_point(self.state, replicas, progress.snapshot_change_ids, snapshot_time)
        prune_recovery_points(self.state, replicas, self.clients.settings.keep_recovery_points)
        seconds = time.monotonic() - started
        self.state.last_cycle = LastCycle(
            cycle=progress.cycle,
            kind=kind,
            finished_at=_now(),
            seconds=seconds,
            bytes_sent=progress.bytes_sent,
            changed_bytes=progress.changed_bytes,
        )
        self.state.in_progress = None
        self.state.phase = "protected"
        self.state.error = None
        self.save()
        return {
            "vm": self.vm_name,
            "cycle": progress.cycle,
            "kind": kind,
            "bytes_sent": sent,
            "changed_bytes": changed,
            "seconds": round(seconds, 3),
            "disks": [
                {
                    "key": d.key,
                    "kind": disk_kinds[str(d.key)],
                    "blob_url": replicas[str(d.key)].url,
                    "recovery_point": point.blob_snapshots[str(d.key)],
                }
                for d in disks
            ],
        }

    def _check_replica_identity(
        self, replica: PageBlobReplica, known: DiskState, capacity_bytes: int, fresh: bool
    ) -> bool:
        """Make sure the blob is the one the state's changeId and checkpoint describe; if another blob took its
        place (deleted and created again, or copied over), forget both and copy the disk in full, into an empty
        blob: a delta into it would end "protected" with an incomplete replica. Returns whether the blob is empty.
        """
        identity = replica.identity()
        if known.replica_identity in (None, identity):
            known.replica_identity = identity
            return fresh
        progress = self.state.in_progress
        assert progress is not None
        key = str(known.key)
        # A blob is deleted with its snapshots: recovery points that lost this disk's snapshot cannot be restored.
        lost_points = [
            point.cycle
            for point in self.state.recovery_points
            if key in point.blob_snapshots and not replica.has_snapshot(point.blob_snapshots[key])
        ]
        self.state.recovery_points = [p for p in self.state.recovery_points if p.cycle not in lost_points]
        log.warning(
            "the replica %s of %s disk %s is not the blob the last cycle wrote (%s, now %s): it was deleted or "
            "replaced; copying the disk in full instead of a delta; recovery points of cycles %s went with it",
            replica.url, self.vm_name, key, known.replica_identity, identity, lost_points or "none",
        )
        if not fresh:
            replica.start_over(capacity_bytes)
        known.replica_identity = replica.identity()
        known.change_id = None
        known.capacity_bytes = capacity_bytes
        progress.checkpoints.pop(key, None)
        self.save()
        return True

    def _replicate_disk(
        self,
        snapshot: vim.vm.Snapshot,
        disk: snapshots.SnapshotDisk,
        replica: PageBlobReplica,
        known: DiskState,
        checkpoint: DiskCheckpoint | None,
        crashed_change_id: str | None,
        fresh: bool,
        percent: Callable[[float], float],
    ) -> tuple[str, MoveResult, int]:
        """One disk: CBT areas when the changeId holds, else a digest resync; resumes from a checkpoint."""
        key = str(disk.key)
        settings = self.clients.settings.mover
        base = known.change_id if known.capacity_bytes == disk.capacity_bytes else None
        resync = known.change_id is not None and base is None
        whole = [DiskExtent(0, disk.capacity_bytes)]
        try:
            areas = whole if resync else self._changed(snapshot, disk.key, base or ALL_AREAS)
        except ChangeIdRefused:
            resync, areas = True, whole
        if checkpoint is not None:
            # A resumed cycle: what the crashed run did not finish, plus what changed since its snapshot.
            try:
                since_crash = self._changed(snapshot, disk.key, crashed_change_id) if crashed_change_id else []
                areas = coalesce(remaining(areas, checkpoint) + since_crash)
            except ChangeIdRefused:
                resync, areas = True, whole
        reader = self.open_reader(self.session, disk.datastore_path, disk.capacity_bytes)
        planned = plan_areas(areas, disk.capacity_bytes)
        tracker = DiskProgress(total_bytes(planned))
        writes = tracker.track(split(planned, settings.chunk_size))

        def save(done: DiskCheckpoint, _sent: int) -> None:
            assert self.state.in_progress is not None
            self.state.in_progress.checkpoints[key] = done
            self.state.in_progress.percent_done = round(percent(tracker.fraction_done), 1)
            self.save()
            self.on_progress(self.state.in_progress.percent_done)

        with Checkpointer(tracker, save) as checkpointer:
            def written(outcome: WriteOutcome) -> None:
                checkpointer.written(outcome)
                self.check_stop()

            if resync:
                result = resync_disk(reader, replica, settings, writes, on_written=written)
                disk_changed = result.bytes_sent + result.bytes_cleared
            else:
                skip_zero = fresh and checkpoint is None and base is None
                result = move(reader, replica, writes, settings, skip_zero=skip_zero, on_written=written)
                disk_changed = total_bytes(areas)
        assert self.state.in_progress is not None
        self.state.in_progress.checkpoints[key] = DiskCheckpoint(resume_offset=disk.capacity_bytes, finished=True)
        self.save()
        return ("resync" if resync else "delta" if base else "initial"), result, disk_changed

    def _changed(self, snapshot: vim.vm.Snapshot, key: int, change_id: str) -> list[DiskExtent]:
        areas = cbt.changed_areas(self.session, self.vm, snapshot, key, change_id)
        return [DiskExtent(a.start, a.length) for a in areas]


def verify_vm(
    vm_name: str,
    *,
    recovery_point: str | None = None,
    session: VSphereSession | None = None,
    blob_service: BlobServiceClient | None = None,
    settings: ReplicationSettings | None = None,
    open_reader: OpenReader = open_disk,
) -> dict:
    """Compare a fresh snapshot of the VM's disks with their replicas (or a recovery point, by its cycle
    number or blob snapshot id); returns the `vmshift verify` JSON (DESIGN.md, Contracts).

    Equal only if the guest wrote nothing since that cycle's snapshot: run it on a quiet or stopped VM.
    """
    settings = settings or ReplicationSettings.from_env()
    session = session or connect(VCenterConfig.from_env())
    clients = _clients(settings, blob_service)
    state = clients.store.load(vm_name).state
    _check_no_other_run(state)
    if not state.disks:
        raise ValueError(f"{vm_name} has no replica yet: run `vmshift replicate --vm {vm_name}` first")
    point_snapshots: dict[str, str] = {}
    if recovery_point is not None:
        matches = [
            p
            for p in state.recovery_points
            if recovery_point == str(p.cycle) or recovery_point in p.blob_snapshots.values()
        ]
        if not matches:
            known = ", ".join(str(p.cycle) for p in state.recovery_points) or "none"
            raise ValueError(f"{vm_name} has no recovery point {recovery_point!r} (cycles kept: {known})")
        point_snapshots = matches[-1].blob_snapshots
    vm = inventory.find_vm(session, vm_name)
    _check_snapshottable(vm, vm_name)
    _remove_leftover_snapshots(session, vm)
    snapshot = snapshots.create_snapshot(
        session, vm, f"{OWN_SNAPSHOT_PREFIX}{vm_name}-verify", description="vmshift verification; removed when it ends"
    )
    try:
        results = []
        for disk in snapshots.snapshot_disks(snapshot):
            key = str(disk.key)
            # Only the ranges the replica holds are downloaded (egress); the rest compares as zeros.
            replica = clients.replica(vm_name, key).reader(point_snapshots.get(key), only_written=True)
            source = open_reader(session, disk.datastore_path, disk.capacity_bytes)
            comparison = compare_disks(source, replica, concurrency=clients.settings.mover.concurrency)
            footer_problem = replica.footer_problem()
            results.append(
                {
                    "key": disk.key,
                    "equal": comparison.equal and footer_problem is None,
                    "first_difference": comparison.first_difference,
                    "footer_problem": footer_problem,
                }
            )
    finally:
        snapshots.remove_snapshot(session, snapshot)
    return {"vm": vm_name, "equal": all(r["equal"] for r in results), "disks": results}
