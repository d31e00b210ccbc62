"""The source side of a cutover on vSphere: guest shutdown, the final delta cycle, the frozen disks, clean-up."""

from __future__ import annotations

import contextlib
import logging

from azure.core.exceptions import ResourceNotFoundError
from pyVmomi import vim

from vmshift.azure.disks import snapshot_uri
from vmshift.replication.cycle import ReplicationSettings, has_snapshots, replicate_once
from vmshift.replication.reader import DiskReader
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import StateStore
from vmshift.vsphere import datastore, inventory, power, snapshots
from vmshift.vsphere.cbt import disable_cbt
from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import SnapshotError

log = logging.getLogger(__name__)

MIGRATED = "migrated"  # the state document's phase once the cutover is complete: no more cycles


class VSphereSourceVm:
    """A source VM as the cutover sees it (satisfies vmshift.azure.cutover.SourceVm).

    The final delta's snapshot is kept until `release`: the disks are verified against what it froze, so
    a source left running may write meanwhile (its writes go to the snapshot's redo log).
    """

    def __init__(self, session: VSphereSession, vm_name: str, settings: ReplicationSettings) -> None:
        self.session = session
        self.vm_name = vm_name
        self.settings = settings
        self.final_snapshot: str | None = None  # moref of the final delta's snapshot, until released

    def _vm(self) -> object:
        return inventory.find_vm(self.session, self.vm_name)

    def shut_down(self, timeout_s: float, power_off_after: bool) -> bool:
        return power.shutdown_guest(self.session, self._vm(), timeout_s, power_off_after=power_off_after)

    def final_delta(self) -> dict[int, str]:
        report = replicate_once(self.vm_name, session=self.session, settings=self.settings, keep_snapshot=True)
        self.final_snapshot = report["kept_snapshot"]
        return {disk["key"]: snapshot_uri(disk["blob_url"], disk["recovery_point"]) for disk in report["disks"]}

    def disk_reader(self, key: int) -> DiskReader:
        snapshot = self._final_snapshot()
        if snapshot is None:
            raise SnapshotError(f"the final delta's snapshot of {self.vm_name} is not there to verify against (the "
                                "final cycle did not run, or a replication cycle or someone in vCenter removed it "
                                "during the cutover); stop the VM's delta-sync runs and cut over again")
        disk = next((d for d in snapshots.snapshot_disks(snapshot) if d.key == key), None)
        if disk is None:
            raise SnapshotError(f"the final snapshot of {self.vm_name} has no disk {key}: a disk was added or "
                                "removed during the cutover; cut over again")
        return datastore.open_disk(self.session, disk.datastore_path, disk.capacity_bytes)

    def release(self) -> None:
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
        service = blob_service_client(self.settings.cache_account)
        store = StateStore(service.get_container_client(self.settings.state_container))
        return store.load(self.vm_name).state.phase == MIGRATED

    def finish_replication(self, delete_cache_blobs: bool) -> None:
        vm = self._vm()
        for snapshot in snapshots.find_snapshots(vm, inventory.OWN_SNAPSHOT_PREFIX):
            snapshots.remove_snapshot(self.session, snapshot)
        disable_cbt(self.session, vm)
        service = blob_service_client(self.settings.cache_account)
        store = StateStore(service.get_container_client(self.settings.state_container))
        stored = store.load(self.vm_name)
        if delete_cache_blobs:
            replicas = service.get_container_client(self.settings.replica_container)
            for disk in stored.state.disks.values():
                with contextlib.suppress(ResourceNotFoundError):
                    replicas.get_blob_client(disk.blob_name).delete_blob(delete_snapshots="include")
                log.info("%s: deleted cache blob %s and its recovery points", self.vm_name, disk.blob_name)
            stored.state.recovery_points = []
        stored.state.phase = MIGRATED
        store.save(stored)
