"""Route table for Microsoft.Compute; each route's resource type says which api-versions it takes
(api_versions.py: CRP's for VMs, availability sets and sizes, DiskRP's for disks, snapshots and
disk encryption sets, skus.json's for resource SKUs)."""

from collections.abc import Callable

from vmshift.lab.arm.compute.responses import ComputeResponse as R
from vmshift.lab.arm.routing import ArmResponse, Route

_SUB = "/subscriptions/{subscriptionId}/providers/Microsoft.Compute"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute"
_DISK = _RG + "/disks/{diskName}"
_SNAPSHOT = _RG + "/snapshots/{snapshotName}"
_DES = _RG + "/diskEncryptionSets/{diskEncryptionSetName}"
_AVSET = _RG + "/availabilitySets/{availabilitySetName}"
_VM = _RG + "/virtualMachines/{vmName}"


def _route(method: str, template: str, handler: Callable[[R], ArmResponse], resource_type: str) -> Route:
    return Route(method, template, R.method_dispatch(handler), f"Microsoft.Compute/{resource_type}")


ROUTES = [
    _route("PUT", _DISK, R.create_or_update_disk, "disks"),
    _route("GET", _DISK, R.get_disk, "disks"),
    _route("DELETE", _DISK, R.delete_disk, "disks"),
    _route("GET", _RG + "/disks", R.list_disks, "disks"),
    _route("GET", _SUB + "/disks", R.list_disks, "disks"),
    _route("POST", _DISK + "/beginGetAccess", R.grant_access, "disks"),
    _route("POST", _DISK + "/endGetAccess", R.end_get_access, "disks"),
    _route("PUT", _SNAPSHOT, R.create_or_update_snapshot, "snapshots"),
    _route("GET", _SNAPSHOT, R.get_snapshot, "snapshots"),
    _route("DELETE", _SNAPSHOT, R.delete_snapshot, "snapshots"),
    _route("POST", _SNAPSHOT + "/beginGetAccess", R.grant_snapshot_access, "snapshots"),
    _route("POST", _SNAPSHOT + "/endGetAccess", R.revoke_snapshot_access, "snapshots"),
    _route("PUT", _DES, R.create_or_update_disk_encryption_set, "diskEncryptionSets"),
    _route("GET", _DES, R.get_disk_encryption_set, "diskEncryptionSets"),
    _route("PUT", _AVSET, R.create_or_update_availability_set, "availabilitySets"),
    _route("GET", _AVSET, R.get_availability_set, "availabilitySets"),
    _route("PUT", _VM, R.create_or_update_virtual_machine, "virtualMachines"),
    _route("GET", _VM, R.get_virtual_machine, "virtualMachines"),
    _route("DELETE", _VM, R.delete_virtual_machine, "virtualMachines"),
    _route("GET", _RG + "/virtualMachines", R.list_virtual_machines, "virtualMachines"),
    _route("GET", _SUB + "/virtualMachines", R.list_virtual_machines, "virtualMachines"),
    _route("GET", _VM + "/instanceView", R.instance_view, "virtualMachines"),
    _route("POST", _VM + "/powerOff", R.power_off, "virtualMachines"),
    _route("POST", _VM + "/deallocate", R.deallocate, "virtualMachines"),
    _route("POST", _VM + "/start", R.start, "virtualMachines"),
    _route("POST", _VM + "/restart", R.restart, "virtualMachines"),
    _route("GET", _SUB + "/skus", R.list_resource_skus, "skus"),
    _route("GET", _SUB + "/locations/{location}/vmSizes", R.list_virtual_machine_sizes, "locations/vmSizes"),
]
