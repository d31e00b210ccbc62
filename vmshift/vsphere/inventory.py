"""What is in vCenter: VMs and their disks, as vSphere names them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyVmomi import vim

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import VmNotFound

# Every snapshot vmshift takes is named so; a leftover of a killed cycle is vmshift's to remove, not a blocker.
OWN_SNAPSHOT_PREFIX = "vmshift-"

INVENTORY_COLUMNS = [
    "vm", "moref", "instance_uuid", "guest_os", "firmware", "power_state", "cpus", "memory_mib",
    "host", "snapshot_count", "nic_count",
    "disk_key", "disk_label", "capacity_bytes", "datastore_path", "cbt", "disk_sharing", "disk_mode", "disk_rdm",
]


@dataclass(frozen=True)
class VirtualDiskInfo:
    """One virtual disk of a VM as its current config shows it."""

    key: int
    label: str
    capacity_bytes: int
    datastore_path: str
    # Change tracking runs for this disk: its backing shows a changeId. False while CBT is off, and while it is on
    # but waits for the VM's next stun (enabled on a running VM), when a snapshot would carry no changeId.
    cbt: bool
    # What the readiness checks need: shared, independent or RDM disks are not replicated as vmshift does it.
    sharing: str = "sharingNone"
    mode: str = "persistent"
    rdm: bool = False


def _all_vms(session: VSphereSession) -> list[vim.VirtualMachine]:
    view = session.content.viewManager.CreateContainerView(session.datacenter.vmFolder, [vim.VirtualMachine], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def find_vm(session: VSphereSession, name_or_moref: str) -> vim.VirtualMachine:
    """The VM with that name (or moref such as vm-42) in the session's datacenter."""
    for vm in _all_vms(session):
        if name_or_moref in (vm._moId, vm.name):
            return vm
    raise VmNotFound(f"no VM named {name_or_moref!r} in datacenter {session.datacenter.name}")


def disk_capacity(disk: vim.vm.device.VirtualDisk) -> int:
    """Bytes; capacityInKB is all that older hosts fill in."""
    return int(disk.capacityInBytes or disk.capacityInKB * 1024)


def vm_disks(vm: vim.VirtualMachine) -> list[VirtualDiskInfo]:
    """The VM's virtual disks, each with whether change tracking runs for it (see VirtualDiskInfo.cbt)."""
    return [
        VirtualDiskInfo(
            key=device.key,
            label=device.deviceInfo.label if device.deviceInfo else f"disk {device.key}",
            capacity_bytes=disk_capacity(device),
            datastore_path=device.backing.fileName,
            cbt=bool(getattr(device.backing, "changeId", None)),
            sharing=getattr(device.backing, "sharing", None) or "sharingNone",
            mode=getattr(device.backing, "diskMode", None) or "persistent",
            rdm=isinstance(device.backing, vim.vm.device.VirtualDisk.RawDiskMappingVer1BackingInfo),
        )
        for device in vm.config.hardware.device
        if isinstance(device, vim.vm.device.VirtualDisk)
    ]


def foreign_snapshots(vm: vim.VirtualMachine) -> list[str]:
    """Names of the snapshots vmshift did not take: they keep CBT from being enabled and put the disks on redo
    logs, so readiness blocks on them and a cycle refuses to start."""
    info = vm.snapshot  # read once: each read asks vCenter
    trees = snapshot_trees(info.rootSnapshotList if info is not None else None)
    return [tree.name for tree in trees if not tree.name.startswith(OWN_SNAPSHOT_PREFIX)]


def snapshot_trees(trees: list[vim.vm.SnapshotTree] | None) -> list[vim.vm.SnapshotTree]:
    """Every node of the snapshot trees, parents before their children."""
    found = []
    for tree in trees or []:
        found.append(tree)
        found.extend(snapshot_trees(tree.childSnapshotList))
    return found


def inventory(session: VSphereSession) -> pd.DataFrame:
    """One row per VM disk (a VM without disks gets one row with empty disk columns)."""
    rows = []
    for vm in sorted(_all_vms(session), key=lambda v: v.name):
        config, runtime = vm.config, vm.runtime  # each property read is a round trip to vCenter
        base = {
            "vm": vm.name, "moref": vm._moId, "instance_uuid": config.instanceUuid, "guest_os": config.guestId,
            "firmware": config.firmware, "power_state": str(runtime.powerState),
            "cpus": config.hardware.numCPU, "memory_mib": config.hardware.memoryMB,
            "host": runtime.host.name if runtime.host else None,
            "snapshot_count": len(foreign_snapshots(vm)),
            "nic_count": sum(isinstance(d, vim.vm.device.VirtualEthernetCard) for d in config.hardware.device),
        }
        disks = vm_disks(vm)
        if not disks:
            rows.append(base)
        for disk in disks:
            rows.append(base | {
                "disk_key": disk.key, "disk_label": disk.label, "capacity_bytes": disk.capacity_bytes,
                "datastore_path": disk.datastore_path, "cbt": disk.cbt, "disk_sharing": disk.sharing,
                "disk_mode": disk.mode, "disk_rdm": disk.rdm,
            })
    return pd.DataFrame(rows, columns=INVENTORY_COLUMNS)

