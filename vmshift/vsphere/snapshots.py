"""VM snapshots: what replication reads from, with the disks as they were frozen."""

from __future__ import annotations

from dataclasses import dataclass

from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import ConsolidationNeeded, SnapshotError
from vmshift.vsphere.inventory import disk_capacity, snapshot_trees
from vmshift.vsphere.tasks import fault_text, wait_for_task


@dataclass(frozen=True)
class SnapshotDisk:
    """A disk as a snapshot froze it: the base file to read and the changeId of that point."""

    key: int
    capacity_bytes: int
    datastore_path: str
    change_id: str | None


def create_snapshot(session: VSphereSession, vm: vim.VirtualMachine, name: str, description: str = "",
                    quiesce: bool = False) -> vim.vm.Snapshot:
    """Take a disk-only snapshot (no memory: replication needs crash- or app-consistent disks only)."""
    try:
        return wait_for_task(session, vm.CreateSnapshot_Task(name=name, description=description, memory=False,
                                                             quiesce=quiesce))
    except vmodl.MethodFault as fault:
        raise SnapshotError(f"snapshot {name!r} of {vm.name} failed: {fault_text(fault)}") from fault


def remove_snapshot(session: VSphereSession, snapshot: vim.vm.Snapshot) -> None:
    """Remove one snapshot (its redo logs are consolidated) and check the VM no longer needs consolidation."""
    vm = snapshot.vm
    try:
        wait_for_task(session, snapshot.RemoveSnapshot_Task(removeChildren=False))
    except vmodl.MethodFault as fault:
        raise SnapshotError(f"removing snapshot {snapshot._moId} failed: {fault_text(fault)}") from fault
    if vm is not None and vm.runtime.consolidationNeeded:
        raise ConsolidationNeeded(f"{vm.name} still runs on redo logs after the snapshot removal: "
                                  "run 'Consolidate' on it in vCenter before the next cycle")


def find_snapshots(vm: vim.VirtualMachine, name_prefix: str) -> list[vim.vm.Snapshot]:
    """The VM's snapshots whose name starts with the prefix, oldest first (e.g. leftovers of a killed cycle)."""
    info = vm.snapshot  # read once: each read asks vCenter, and another run may remove the last snapshot between
    if info is None:
        return []
    trees = sorted(snapshot_trees(info.rootSnapshotList), key=lambda t: (t.createTime, t.id))
    return [tree.snapshot for tree in trees if tree.name.startswith(name_prefix)]


def snapshot_tree(vm: vim.VirtualMachine, moref: str) -> vim.vm.SnapshotTree | None:
    """The node of the VM's snapshot tree for the snapshot with that moref (its createTime, name, ...), if any."""
    info = vm.snapshot  # read once: each read asks vCenter
    trees = snapshot_trees(info.rootSnapshotList if info is not None else None)
    return next((tree for tree in trees if tree.snapshot._moId == moref), None)


def snapshot_disks(snapshot: vim.vm.Snapshot) -> list[SnapshotDisk]:
    """The snapshot's disks: the file it froze (not the VM's current redo log) and its changeId."""
    return [
        SnapshotDisk(
            key=device.key,
            capacity_bytes=disk_capacity(device),
            datastore_path=device.backing.fileName,
            change_id=getattr(device.backing, "changeId", None) or None,
        )
        for device in snapshot.config.hardware.device
        if isinstance(device, vim.vm.device.VirtualDisk)
    ]
