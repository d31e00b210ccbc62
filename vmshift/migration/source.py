"""The source side of a cutover on vSphere: guest shutdown, the final delta cycle, the frozen disks, clean-up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from pyVmomi import vim

from vmshift.azure.disks import snapshot_uri
from vmshift.replication.cycle import ReplicationSettings, replicate_once
from vmshift.replication.hygiene import has_snapshots
from vmshift.replication.readback import Mirror
from vmshift.replication.settings import open_clients
from vmshift.replication.storage import blob_service_client
from vmshift.state import lifecycle
from vmshift.state.lifecycle import Actor, Phase, Step
from vmshift.state.store import StateStore
from vmshift.vsphere import inventory, power, snapshots
from vmshift.vsphere.cbt import disable_cbt
from vmshift.vsphere.connection import VSphereSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrozenDisk:
    """One disk as the final delta left it: the recovery point's blob snapshot the import reads, and the manifest
    (a blob beside the state document, at a snapshot) whose entries the imported disk is proven against.

    A step that changes the disk between the final delta and the import (OS preparation) puts its own copy's URI
    here, with a manifest of that copy: the entries of the chunks it changed replaced, the others as they were."""

    key: int
    source_uri: str
    manifest_blob: str
    manifest_snapshot: str


@dataclass(frozen=True)
class FinalDelta:
    """The final delta cycle: its recovery point, what it changed and read, and the read-back of its ranges."""

    recovery_point: int
    disks: dict[int, FrozenDisk]
    changed_bytes: int
    source_bytes_read: int
    seconds: float  # the whole cycle, its range check included
    # Read from Azure: the replica's ranges the cycle wrote, read back, and every manifest page the cycle read
    range_check_bytes: int
    range_check_seconds: float
    kept_snapshot: str | None = None  # moref of the source snapshot kept for a source left running
    resynced: frozenset[int] = frozenset()  # disks compared whole (no CBT delta): only their written pages read back


class VSphereSourceVm:
    """A source VM as the cutover sees it (satisfies vmshift.migration.cutover.SourceVm).

    A source left running keeps the final delta's snapshot until its migrated disks are proven (`release`): the
    source side of what the cutover froze stays there to go back to, while the guest writes to its redo log.
    Its final delta and the completion are lifecycle steps, taken by `actor`.
    """

    def __init__(self, session: VSphereSession, vm_name: str, settings: ReplicationSettings, actor: Actor) -> None:
        self.session = session
        self.vm_name = vm_name
        self.settings = settings
        self.actor = actor
        self.final_snapshot: str | None = None  # moref of the final delta's snapshot, until released

    def _vm(self) -> object:
        return inventory.find_vm(self.session, self.vm_name)

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        return power.shutdown_guest(self.session, self._vm(), timeout_s, power_off_after=power_off_after)

    def final_delta(self, keep_snapshot: bool, mirrors: Mapping[int, Mirror] | None = None) -> FinalDelta:
        report = replicate_once(self.vm_name, session=self.session, settings=self.settings,
                                keep_snapshot=keep_snapshot, step=Step.FINAL_DELTA, actor=self.actor, mirrors=mirrors)
        self.final_snapshot = report.get("kept_snapshot")
        disks = {disk["key"]: FrozenDisk(disk["key"], snapshot_uri(disk["blob_url"], disk["recovery_point"]),
                                         disk["manifest_blob"], disk["manifest"])
                 for disk in report["disks"]}
        return FinalDelta(report["cycle"], disks, report["changed_bytes"], report["source_bytes_read"],
                          report["seconds"], report["replica_bytes_read_back"] + report["manifest_bytes_read"],
                          report["read_back_seconds"], self.final_snapshot,
                          frozenset(disk["key"] for disk in report["disks"] if disk["kind"] == "resync"))

    def release(self, kept_snapshot: str | None = None) -> None:
        """Removes the final delta's kept snapshot (this run's, or `kept_snapshot` that an earlier run kept);
        idempotent."""
        self.final_snapshot = kept_snapshot or self.final_snapshot
        snapshot = self._final_snapshot()
        if snapshot is not None:
            snapshots.remove_snapshot(self.session, snapshot)
        self.final_snapshot = None

    def _final_snapshot(self) -> vim.vm.Snapshot | None:
        if self.final_snapshot is None:
            return None
        vm = self._vm()
        if not has_snapshots(self.session, vm):
            return None
        tree = snapshots.snapshot_tree(vm, self.final_snapshot)
        return tree.snapshot if tree is not None else None

    def power_on(self) -> None:
        power.power_on(self.session, self._vm())

    def replication_finished(self) -> bool:
        store = StateStore.for_account(self.settings.cache_account, self.settings.state_container)
        return store.load(self.vm_name).state.phase == Phase.COMPLETED

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        service = blob_service_client(self.settings.cache_account)
        store = StateStore.for_account(self.settings.cache_account, self.settings.state_container, service)
        lifecycle.next_phase(store.load(self.vm_name).state, Step.COMPLETE)  # before anything is touched
        vm = self._vm()
        for snapshot in snapshots.find_snapshots(vm, inventory.OWN_SNAPSHOT_PREFIX):
            snapshots.remove_snapshot(self.session, snapshot)
        disable_cbt(self.session, vm)
        stored = store.load(self.vm_name)
        if delete_cache_blobs:
            replicas = service.get_container_client(self.settings.replica_container)
            clients = open_clients(self.settings, service)
            for key, disk in stored.state.disks.items():
                manifest = clients.manifest(self.vm_name, key).blob
                for blob in (replicas.get_blob_client(disk.blob_name), manifest):
                    with contextlib.suppress(ResourceNotFoundError):
                        blob.delete_blob(delete_snapshots="include")
                log.info("%s: deleted cache blob %s, its manifest and their recovery points", self.vm_name,
                         disk.blob_name)
            stored.state.recovery_points = []
        lifecycle.advance(stored.state, Step.COMPLETE, self.actor)
        store.save(stored)
