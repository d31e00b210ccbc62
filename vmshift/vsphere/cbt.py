"""Changed Block Tracking: switching it on and asking what changed between two snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import ChangeIdRefused, ChangeTrackingInactive, VSphereError
from vmshift.vsphere.inventory import vm_disks
from vmshift.vsphere.snapshots import create_snapshot, remove_snapshot
from vmshift.vsphere.tasks import fault_text, wait_for_task

ALL_ALLOCATED = "*"
CBT_ACTIVATION_SNAPSHOT = "vmshift-cbt-activation"


@dataclass(frozen=True)
class ChangedArea:
    """A byte range of a disk that CBT reports as changed (or allocated, for changeId "*")."""

    start: int
    length: int


def enable_cbt(session: VSphereSession, vm: vim.VirtualMachine) -> None:
    """Switch CBT on and make sure every disk tracks. On a powered-on VM, ESXi starts tracking only at the next
    stun (VMware KB 1031873): until then the disks show no changeId and the next snapshot would carry none. So a
    snapshot is created and removed right away, as backup tools do; also when CBT was switched on by someone else
    and still waits. A VM whose disks all track is left alone."""
    _set_change_tracking(session, vm, True)
    if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn and not all(d.cbt for d in vm_disks(vm)):
        snapshot = create_snapshot(session, vm, CBT_ACTIVATION_SNAPSHOT, "vmshift: activates change tracking")
        remove_snapshot(session, snapshot)


def disable_cbt(session: VSphereSession, vm: vim.VirtualMachine) -> None:
    """Switch CBT off, leaving the source as it was before replication (a migrated VM is tracked no more).
    ESXi drops the -ctk files at the next stun or power cycle; a VM that has CBT off is left alone."""
    _set_change_tracking(session, vm, False)


def _set_change_tracking(session: VSphereSession, vm: vim.VirtualMachine, on: bool) -> None:
    """Reconfigure the VM's CBT setting, unless it is so already."""
    if bool(vm.config.changeTrackingEnabled) == on:
        return
    try:
        wait_for_task(session, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(changeTrackingEnabled=on)))
    except vmodl.MethodFault as fault:
        raise VSphereError(f"{'enabling' if on else 'disabling'} CBT on {vm.name} failed: {fault_text(fault)}") \
            from fault


def changed_areas(session: VSphereSession, vm: vim.VirtualMachine, snapshot: vim.vm.Snapshot, disk_key: int,
                  change_id: str) -> list[ChangedArea]:
    """Areas of the disk changed between change_id and the snapshot ("*": all allocated areas), paging through
    startOffset as vCenter answers a disk in several pieces."""
    disk = _snapshot_disk(snapshot, disk_key)
    capacity = int(disk.capacityInBytes or disk.capacityInKB * 1024)
    areas: list[ChangedArea] = []
    offset = 0
    while offset < capacity:
        try:
            info = vm.QueryChangedDiskAreas(snapshot=snapshot, deviceKey=disk_key, startOffset=offset,
                                            changeId=change_id)
        except vim.fault.FileFault as fault:
            # hostd cannot answer from the disk's change tracking file: the snapshot froze the disk without
            # tracking, or the changeId belongs to a tracking that was reset since.
            if change_id == ALL_ALLOCATED or not getattr(disk.backing, "changeId", None):
                raise _tracking_inactive(vm, snapshot, disk_key) from fault
            raise ChangeIdRefused(vm.name, disk_key, change_id, fault_text(fault)) from fault
        except vmodl.fault.InvalidArgument as fault:
            if fault.invalidProperty == "changeId":
                raise ChangeIdRefused(vm.name, disk_key, change_id, fault_text(fault)) from fault
            raise VSphereError(f"QueryChangedDiskAreas on {vm.name} disk {disk_key}: {fault_text(fault)} "
                               f"({fault.invalidProperty})") from fault
        except vmodl.MethodFault as fault:
            raise VSphereError(f"QueryChangedDiskAreas on {vm.name} disk {disk_key}: {fault_text(fault)}") from fault
        for extent in info.changedArea or []:
            _append(areas, ChangedArea(int(extent.start), int(extent.length)))
        if info.length <= 0:
            raise VSphereError(f"QueryChangedDiskAreas on {vm.name} disk {disk_key} made no progress at {offset}")
        offset = int(info.startOffset) + int(info.length)
    return areas


def _tracking_inactive(vm: vim.VirtualMachine, snapshot: vim.vm.Snapshot, disk_key: int) -> ChangeTrackingInactive:
    if not vm.config.changeTrackingEnabled:
        return ChangeTrackingInactive(f"CBT is off on {vm.name}: enable it, then take a new snapshot")
    return ChangeTrackingInactive(f"CBT was not active on disk {disk_key} of {vm.name} when snapshot "
                                  f"{snapshot._moId} was taken: take a new snapshot")


def _append(areas: list[ChangedArea], area: ChangedArea) -> None:
    """Join an area that continues the previous one (pages split extents at their borders)."""
    if areas and areas[-1].start + areas[-1].length == area.start:
        areas[-1] = ChangedArea(areas[-1].start, areas[-1].length + area.length)
    else:
        areas.append(area)


def _snapshot_disk(snapshot: vim.vm.Snapshot, disk_key: int) -> vim.vm.device.VirtualDisk:
    for device in snapshot.config.hardware.device:
        if isinstance(device, vim.vm.device.VirtualDisk) and device.key == disk_key:
            return device
    raise VSphereError(f"snapshot {snapshot._moId} has no disk with device key {disk_key}")
