"""What is in vCenter: VMs and their disks, as vSphere names them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import pandas as pd
from pyVmomi import vim, vmodl

from vmshift.vsphere.connection import VSphereSession
from vmshift.vsphere.errors import VmNotFound

# Every snapshot vmshift takes is named so; a leftover of a killed cycle is vmshift's to remove, not a blocker.
OWN_SNAPSHOT_PREFIX = "vmshift-"

INVENTORY_COLUMNS = [
    "vcenter", "vm", "moref", "instance_uuid", "guest_os", "firmware", "power_state", "cpus", "memory_mib",
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


def _vm_names(session: VSphereSession) -> dict[vim.VirtualMachine, str]:
    """Every VM of the datacenter with its name, in one property collector call: reading `vm.name` VM by VM
    is a round trip each, seconds for a vCenter of hundreds of VMs."""
    view = session.content.viewManager.CreateContainerView(session.datacenter.vmFolder, [vim.VirtualMachine], True)
    collector = vmodl.query.PropertyCollector
    spec = collector.FilterSpec(
        objectSet=[collector.ObjectSpec(obj=view, skip=True, selectSet=[
            collector.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)])],
        propSet=[collector.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])])
    try:
        return {item.obj: item.propSet[0].val for item in session.content.propertyCollector.RetrieveContents([spec])}
    finally:
        view.Destroy()


def find_vm(session: VSphereSession, name_or_moref: str) -> vim.VirtualMachine:
    """The VM with that name (or moref such as vm-42) in the session's datacenter."""
    for vm, name in _vm_names(session).items():
        if name_or_moref in (vm._moId, name):
            return vm
    raise VmNotFound(f"no VM named {name_or_moref!r} in datacenter {session.datacenter.name} of vCenter "
                     f"{session.config.name}")


def find_vms(session: VSphereSession, names: Iterable[str]) -> dict[str, vim.VirtualMachine]:
    """The VMs of these names found in the session's datacenter, by name; one pass over the inventory, where
    find_vm for each name would read every VM's name again."""
    wanted = set(names)
    return {name: vm for vm, name in _vm_names(session).items() if name in wanted} if wanted else {}


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


def inventory(session: VSphereSession, names: Collection[str] | None = None) -> pd.DataFrame:
    """One row per VM disk (a VM without disks gets one row with empty disk columns); a VM is known by its
    vCenter (the `vcenter` column: the session's vCenter name) and its name. `names`: only these VMs (by name
    or moref), as a VM's own run reads itself without paying for the whole vCenter."""
    rows = []
    found = _vm_names(session)
    chosen = [vm for vm, name in found.items() if names is None or name in names or vm._moId in names]
    for vm in sorted(chosen, key=lambda v: found[v]):
        config, runtime = vm.config, vm.runtime  # each property read is a round trip to vCenter
        base = {
            "vcenter": session.config.name, "vm": vm.name, "moref": vm._moId, "instance_uuid": config.instanceUuid,
            "guest_os": config.guestId,
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

