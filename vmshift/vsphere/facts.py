"""The source VMs as vCenter's inventory shows them: one type, one reader of `inventory.inventory`'s table,
one guest-OS classifier. Readiness, capacity, the target VM and the plan's checks all read these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

OsFamily = Literal["windows", "linux"]

# Markers of Linux in vSphere guest ids (VirtualMachineGuestOsIdentifier).
_LINUX_GUESTS = ("linux", "ubuntu", "rhel", "centos", "debian", "sles", "suse", "oracle", "rocky", "alma",
                 "fedora", "photon", "coreos", "asianux", "mandr", "turbo", "amazon")


def os_family(guest_id: str) -> OsFamily | None:
    """From vSphere's guest id (windows2019srv_64Guest, rhel8_64Guest); None when it does not say."""
    guest = guest_id.lower()
    if "win" in guest:
        return "windows"
    if any(marker in guest for marker in _LINUX_GUESTS):
        return "linux"
    return None


@dataclass(frozen=True)
class DiskFacts:
    """One virtual disk as the inventory shows it."""

    key: int
    capacity_bytes: int
    datastore_path: str
    sharing: str = "sharingNone"  # vSphere's VirtualDiskSharing: sharingNone / sharingMultiWriter
    mode: str = "persistent"  # vSphere's diskMode: independent_* modes are left out of snapshots
    rdm: bool = False


@dataclass(frozen=True)
class VmFacts:
    """What vmshift needs to know of one source VM; `facts_from_inventory` reads them from vCenter's table."""

    name: str
    guest_os: str
    firmware: str
    disks: tuple[DiskFacts, ...]
    snapshot_count: int = 0
    nic_count: int = 1
    target_name: str | None = None
    os_disk_key: int | None = None  # None: the first disk
    host: str = ""  # the ESXi host, whose NFC buffer bounds the disk reads
    cpus: int = 0
    memory_mib: int = 0
    moref: str = ""
    vcenter: str = ""  # the vCenter's name: a VM is known by its vCenter and its name

    @property
    def os_type(self) -> OsFamily | None:
        return os_family(self.guest_os)

    @property
    def is_windows(self) -> bool:
        return self.os_type == "windows"

    @property
    def disk_count(self) -> int:
        """Every virtual disk, raw device mappings too: the plan numbers them as vSphere lists them."""
        return len(self.disks)

    @property
    def datastores(self) -> tuple[str, ...]:
        """Datastores holding the replicated disks, from paths vSphere writes as `[ds] folder/disk.vmdk`."""
        names = {d.datastore_path[1:].partition("]")[0] for d in self.disks if d.datastore_path.startswith("[")}
        return tuple(sorted(names))


def facts_from_inventory(table: pd.DataFrame, target_names: Mapping[str, str] | None = None) -> dict[str, VmFacts]:
    """VmFacts per VM name from the inventory table (one row per disk, `vmshift.vsphere.inventory.inventory`).

    Columns beyond the basic ones (host, snapshot_count, nic_count, disk_sharing, disk_mode, disk_rdm) are read
    when the inventory has them; without them, the checks that need them pass.
    """
    facts: dict[str, VmFacts] = {}
    for name, rows in table.groupby("vm", sort=True):
        first = rows.iloc[0]
        disks = tuple(
            DiskFacts(key=int(row["disk_key"]), capacity_bytes=int(_cell(row, "capacity_bytes", 0)),
                      datastore_path=str(_cell(row, "datastore_path", "")),
                      sharing=str(_cell(row, "disk_sharing", "sharingNone")),
                      mode=str(_cell(row, "disk_mode", "persistent")), rdm=bool(_cell(row, "disk_rdm", False)))
            for _, row in rows.iterrows() if not pd.isna(row.get("disk_key"))
        )
        facts[str(name)] = VmFacts(
            name=str(name), guest_os=str(_cell(first, "guest_os", "")), firmware=str(_cell(first, "firmware", "bios")),
            disks=disks, snapshot_count=int(_cell(first, "snapshot_count", 0)),
            nic_count=int(_cell(first, "nic_count", 1)),
            target_name=(target_names or {}).get(str(name)), host=str(_cell(first, "host", "")),
            cpus=int(_cell(first, "cpus", 0)), memory_mib=int(_cell(first, "memory_mib", 0)),
            moref=str(_cell(first, "moref", "")), vcenter=str(_cell(first, "vcenter", "")),
        )
    return facts


def _cell(row: pd.Series, column: str, default: object) -> object:
    value = row.get(column, default)
    return default if value is None or (not isinstance(value, str | bool) and pd.isna(value)) else value
