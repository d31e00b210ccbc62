"""One replication cycle of a VM: initial, delta or resync, from a vSphere snapshot into page blobs.

Order and hygiene (hygiene.py): a leftover vmshift snapshot is removed before a new one is taken, so a VM never
carries two; the cycle's snapshot is removed when the cycle ends, failed or not (unless a cutover's final delta keeps
it to verify against); the changeIds of the snapshot's disks are saved before the snapshot goes. Each disk's chunk
digests go into its manifest as the mover reads them, and what the cycle wrote is read back and checked against them
before the cycle counts: a cycle whose replica is wrong leaves no recovery point.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from azure.storage.blob import BlobServiceClient
from pyVmomi import vim

from vmshift.replication.disk_cycle import CycleContext, DiskOutcome, OpenReader, replicate_disk
from vmshift.replication.hygiene import (
    check_no_other_run,
    check_snapshottable,
    remove_leftover_snapshots,
    snapshot_time,
)
from vmshift.replication.manifest import Manifest
from vmshift.replication.pageblob import PageBlobReplica
from vmshift.replication.readback import Mirror
from vmshift.replication.recovery_points import prune_recovery_points, take_recovery_point
from vmshift.replication.settings import ReplicationClients, ReplicationSettings, open_clients
from vmshift.state import lifecycle
from vmshift.state.document import Claim, CycleInProgress, DiskState, LastCycle, VmState
from vmshift.state.lifecycle import Actor, Phase, Step
from vmshift.state.store import StoredState
from vmshift.vsphere import cbt, inventory, snapshots
from vmshift.vsphere.connection import VCenterConfig, VSphereSession, connect
from vmshift.vsphere.datastore import open_disk
from vmshift.vsphere.errors import ChangeTrackingInactive, ConsolidationNeeded, ForeignSnapshots
from vmshift.vsphere.inventory import OWN_SNAPSHOT_PREFIX

log = logging.getLogger(__name__)


class CycleStopped(RuntimeError):
    """The cycle was asked to stop (its VM's run was cancelled): what it wrote is checkpointed, and the next
    cycle of the VM resumes from there."""


class ReplicaMismatch(RuntimeError):
    """Read back after the cycle wrote them, chunks of a replica differ from what was read from the source."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _percent_done(capacity_before: int, capacity: int, capacity_total: int, disk_fraction: float) -> float:
    """The cycle's progress: each disk weighs its capacity, the disks before this one are done."""
    return 100 * (capacity_before + capacity * disk_fraction) / capacity_total


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
    step: Step = Step.REPLICATE,
    actor: Actor | None = None,
    included_disks: Sequence[int] | None = None,
    owner: str = "",
    mirrors: Mapping[int, Mirror] | None = None,
    placement: tuple[str | None, str | None] | None = None,
) -> dict:
    """Run one cycle for the VM now; returns the `vmshift replicate` JSON (DESIGN.md, Contracts).

    `step` is the lifecycle step that starts it (replicate, delta-cycle, resync, final-delta), taken by `actor`: a
    phase that does not allow it refuses the cycle (LifecycleRefused) before anything is touched. A resync compares
    every block of each disk and sends those that differ, whatever CBT says.

    Once `stop` is set, the cycle raises CycleStopped after its writes in flight are checkpointed.
    `on_progress` gets the percent done at each checkpoint, from the checkpointing thread.
    `keep_snapshot`: a cycle that succeeds leaves its snapshot for the caller to read the disks as they were
    replicated (the cutover's verification of a source left running) and to remove; the report names it
    (`kept_snapshot`, its moref). A failed cycle removes it as always; a leftover goes with the next cycle.
    `included_disks`: the vSphere keys of the disks the plan migrates (None: every disk), kept by the VM's first
    cycle; later cycles, the final delta among them, read only those and never ask again.
    `owner`: what runs the cycle (a Prefect flow run id); a claim of that owner's, left by a lost attempt, is taken
    over at once.
    `mirrors`: by disk key, where the read-back of what the cycle wrote also goes (the cutover's staged disks).
    `placement`: the plan's appliance and vCenter of the VM (None each: any appliance of the default vCenter), kept
    in its state with the cycle's claim, where a delta-sync pass reads which queue its cycles go to and which
    vCenter they read; None leaves them as they are.
    """
    settings = settings or ReplicationSettings.from_env()
    session = session or connect(VCenterConfig.from_env())
    clients = open_clients(settings, blob_service)
    cycle = _Cycle(vm_name, session, clients, open_reader, stop or threading.Event(), on_progress,
                   actor or Actor.here("replicate_once"), owner, {str(key): m for key, m in (mirrors or {}).items()})
    if included_disks is not None and not cycle.state.recovery_points and cycle.state.in_progress is None:
        cycle.state.included_disks = sorted(included_disks)  # saved with the cycle's claim
    if placement is not None:
        cycle.state.appliance, cycle.state.vcenter = placement  # so is this
    return cycle.run(step, keep_snapshot=keep_snapshot)


class _Cycle:
    def __init__(
        self,
        vm_name: str,
        session: VSphereSession,
        clients: ReplicationClients,
        open_reader: OpenReader,
        stop: threading.Event,
        on_progress: Callable[[float], None],
        actor: Actor,
        owner: str = "",
        mirrors: dict[str, Mirror] | None = None,
    ) -> None:
        self.vm_name = vm_name
        self.actor = actor
        self.owner = owner
        self.mirrors = mirrors or {}
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

    def run(self, step: Step, keep_snapshot: bool = False) -> dict:
        started = time.monotonic()
        self.check_stop()
        check_no_other_run(self.state, self.owner)
        was = self.state.phase
        lifecycle.advance(self.state, step, self.actor)  # saved with the claim below
        if was in (Phase.STOPPED, Phase.BLOCKED):  # it is neither any more
            self.state.error = None
        vm = self.vm = inventory.find_vm(self.session, self.vm_name)
        try:
            check_snapshottable(vm, self.vm_name)
        except (ConsolidationNeeded, ForeignSnapshots) as error:
            self.state.error = str(error)
            lifecycle.advance(self.state, Step.CYCLE_FAILED, self.actor, note=self.state.error)
            self.save()
            raise
        previous = self.state.in_progress
        claim = Claim(run_id=uuid.uuid4().hex, host=socket.gethostname(), pid=os.getpid(), heartbeat_at=_now(),
                      owner=self.owner)
        if previous is not None:
            previous.claim = claim
            progress = previous
        else:
            initial = not any(d.change_id for d in self.state.disks.values())
            progress = CycleInProgress(
                cycle=self.state.cycles + 1, kind="initial" if initial else "delta", started_at=_now(), claim=claim
            )
        if step is Step.RESYNC:
            progress.kind = "resync"
        self.state.in_progress = progress
        self.save()  # the claim: a second run that read the same ETag stops here with StateConflict
        try:
            leftovers = remove_leftover_snapshots(self.session, vm)
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
            frozen_at = snapshot_time(vm, snapshot)
            kept = False
            try:
                report = self._replicate(snapshot, frozen_at, started)
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
            self.state.error = f"{type(error).__name__}: {error}"
            lifecycle.advance(self.state, Step.STOP if isinstance(error, CycleStopped) else Step.CYCLE_FAILED,
                              self.actor, note=self.state.error)
            self.save()
        except Exception:  # the original error matters more; a stale claim is recognised by its pid
            pass

    def _replicate(self, snapshot: vim.vm.Snapshot, frozen_at: dt.datetime, started: float) -> dict:
        progress = self.state.in_progress
        assert progress is not None
        # A disk the plan leaves out is in the snapshot, as vSphere snapshots the whole VM, and is not read.
        disks = [disk for disk in snapshots.snapshot_disks(snapshot) if self.state.replicates(disk.key)]
        untracked = [d.key for d in disks if not d.change_id]
        if untracked:
            raise ChangeTrackingInactive(
                f"the snapshot of {self.vm_name} carries no changeId for disks {untracked}: CBT is not active on "
                "them; check that the VM's CBT setting stuck (ctkEnabled) and run the cycle again"
            )
        crashed_snapshot_ids = dict(progress.snapshot_change_ids)
        progress.snapshot_change_ids = {str(d.key): d.change_id for d in disks}
        self.save()
        outcomes: dict[str, DiskOutcome] = {}
        replicas: dict[str, PageBlobReplica] = {}
        manifests: dict[str, Manifest] = {}
        capacity_total, capacity_done = sum(d.capacity_bytes for d in disks) or 1, 0
        assert self.vm is not None
        context = CycleContext(self.vm_name, self.session, self.vm, snapshot, progress, self.clients.settings.mover,
                               self.open_reader, self.save, self.check_stop, self.on_progress, self.mirrors)
        for disk in disks:
            key = str(disk.key)
            replica = replicas[key] = self.clients.replica(self.vm_name, key)
            manifests[key] = self.clients.manifest(self.vm_name, key)
            known = self.state.disks.get(key)
            fresh = replica.ensure(disk.capacity_bytes)
            if known is None:
                known = DiskState(key=disk.key, blob_name=replica.name, capacity_bytes=disk.capacity_bytes)
                self.state.disks[key] = known
            known.blob_url = replica.url
            fresh = self._check_replica_identity(replica, known, disk.capacity_bytes, fresh)
            percent = functools.partial(_percent_done, capacity_done, disk.capacity_bytes, capacity_total)
            outcomes[key] = replicate_disk(context, disk, replica, manifests[key], known,
                                           crashed_snapshot_ids.get(key), fresh, percent)
            capacity_done += disk.capacity_bytes
            known.capacity_bytes = disk.capacity_bytes
        self._check_read_back(outcomes)
        # The changeIds go into the state before the snapshot they belong to is removed.
        for disk in disks:
            self.state.disks[str(disk.key)].change_id = disk.change_id
        kind = max((o.kind for o in outcomes.values()), key=_THOROUGHNESS.index, default=progress.kind)
        sent = sum(o.moved.bytes_sent for o in outcomes.values())
        changed = sum(o.changed_bytes for o in outcomes.values())
        progress.bytes_sent += sent
        progress.changed_bytes += changed
        self.state.cycles = progress.cycle
        point = take_recovery_point(self.state, replicas, manifests, progress.snapshot_change_ids, frozen_at)
        prune_recovery_points(self.state, replicas, manifests, self.clients.settings.keep_recovery_points)
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
        self.state.error = None
        lifecycle.advance(self.state, Step.CYCLE_DONE, self.actor)
        self.save()
        checks = [o.read_back for o in outcomes.values()]
        return {
            "vm": self.vm_name,
            "cycle": progress.cycle,
            "kind": kind,
            "bytes_sent": sent,
            "changed_bytes": changed,
            "seconds": round(seconds, 3),
            # What the cycle read from the source, and its read-back of what it wrote (data and manifest entries);
            # every manifest page the cycle read, the ones its writes patched included.
            "source_bytes_read": sum(o.source_bytes_read for o in outcomes.values()),
            "read_back_bytes": sum(c.bytes_checked + c.manifest_bytes_read for c in checks),
            "replica_bytes_read_back": sum(c.bytes_checked for c in checks),
            "manifest_bytes_read": sum(m.bytes_read for m in manifests.values()),
            "read_back_seconds": round(sum(c.seconds for c in checks), 3),
            "disks": [
                {
                    "key": d.key,
                    "kind": outcomes[str(d.key)].kind,
                    "blob_url": replicas[str(d.key)].url,
                    "recovery_point": point.blob_snapshots[str(d.key)],
                    "manifest": point.manifests[str(d.key)],
                    "manifest_blob": manifests[str(d.key)].name,
                    "source_bytes_read": outcomes[str(d.key)].source_bytes_read,
                    "read_back_bytes": outcomes[str(d.key)].read_back.bytes_checked,
                }
                for d in disks
            ],
        }

    def _check_read_back(self, outcomes: dict[str, DiskOutcome]) -> None:
        """Fail the cycle when a disk's read-back found chunks that differ; the state names them for the next
        cycle to write again (DiskState.rewrite), and no recovery point is taken."""
        wrong = {key: o.read_back for key, o in outcomes.items() if o.read_back.mismatched}
        if not wrong:
            return
        self.save()
        details = "; ".join(
            f"disk {key}: {sum(e.length for e in check.mismatched)} bytes in {len(check.mismatched)} range(s), the "
            f"first at byte offset {check.first_mismatch}"
            for key, check in wrong.items()
        )
        raise ReplicaMismatch(
            f"{self.vm_name}: read back after this cycle wrote it, the replica differs from what was read from the "
            f"source ({details}); no recovery point was taken, and the next cycle writes those chunks again "
            f"(`vmshift replicate --vm {self.vm_name}` or the next scheduled delta)"
        )

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
