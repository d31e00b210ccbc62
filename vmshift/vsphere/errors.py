"""Errors of the vSphere side, each with a message a migration engineer can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmshift.vsphere.privileges import MissingPrivilege


class VSphereError(Exception):
    """Something vCenter refused or could not do for vmshift."""


class VCenterConfigError(VSphereError):
    """The vCenter connection settings are missing or unusable."""


class VCenterLoginFailed(VSphereError):
    """vCenter refused the credentials, or its TLS certificate did not verify."""


class VCenterUnreachable(VSphereError):
    """No answer from vCenter at the configured URL."""


class VmNotFound(VSphereError):
    """No VM with that name or moref in the datacenter."""


class ChangeIdRefused(VSphereError):
    """vCenter will not answer changes since this changeId: CBT was reset (switched off and on, disk
    resized) or the changeId is unknown. The disk needs a full copy with changeId "*"."""

    def __init__(self, vm: str, disk_key: int, change_id: str, reason: str) -> None:
        self.vm = vm
        self.disk_key = disk_key
        self.change_id = change_id
        super().__init__(
            f"vCenter refused changeId {change_id!r} for disk {disk_key} of {vm}: {reason}. "
            "Change tracking was reset since the last cycle; replicate this disk in full (resync)."
        )


class ChangeTrackingInactive(VSphereError):
    """CBT is off on the VM, or was not active yet when the snapshot was taken."""


class SnapshotError(VSphereError):
    """A snapshot could not be created, found or removed."""


class ConsolidationNeeded(SnapshotError):
    """The VM's disks still run on redo logs after a snapshot removal; consolidate them in vCenter."""


class ForeignSnapshots(SnapshotError):
    """The VM carries snapshots vmshift did not take: its disks run on a chain that a read of the base disk
    through datastore access would not see through."""


class DatastoreReadError(VSphereError):
    """Datastore file access refused or failed a ranged read of a disk."""


class PowerOperationFailed(VSphereError):
    """A power operation failed, or the guest did not shut down in time."""


class PrivilegesMissing(VSphereError):
    """The vCenter user lacks privileges a step needs; found before the step starts, all of them at once."""

    def __init__(self, user: str, step: str, role: str, role_file: str, missing: Sequence[MissingPrivilege],
                 vcenter: str = "") -> None:
        self.user = user
        self.step = step
        self.vcenter = vcenter  # its name, as a plan's `vcenter` column gives it
        self.missing = list(missing)
        listed = "\n".join(f"  - {m.privilege} on {m.kind} {m.object_name} ({m.moref}): needed for {m.calls}"
                           for m in self.missing)
        where = f" in vCenter {vcenter}" if vcenter else ""
        super().__init__(
            f"vCenter user {user} lacks {len(self.missing)} privilege(s) vmshift needs for {step}{where}:\n"
            f"{listed}\nThe vCenter role '{role}' ({role_file}) grants them: give it to {user} on the datacenter"
            f"{' of ' + vcenter if vcenter else ''}, propagated to its children (or on each VM and datastore named)"
        )
