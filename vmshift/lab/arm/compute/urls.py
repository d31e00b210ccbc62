"""Route table for Microsoft.Compute. azure-mgmt-compute 39 sends three api-versions: 2026-04-01 for
VMs, availability sets and sizes, 2026-03-02 for disks, snapshots and disk encryption sets, and
2021-07-01 for resource SKUs."""

from vmshift.lab.arm.compute import responses as r
from vmshift.lab.arm.routing import Handler, Route

COMPUTE_VERSIONS = ("2026-04-01",)
DISK_VERSIONS = ("2026-03-02",)
SKU_VERSIONS = ("2021-07-01",)
_SUB = "/subscriptions/{subscriptionId}/providers/Microsoft.Compute"
_RG = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute"
_DISK = _RG + "/disks/{diskName}"
_SNAPSHOT = _RG + "/snapshots/{snapshotName}"
_VM = _RG + "/virtualMachines/{vmName}"


def _route(method: str, template: str, handler: Handler, versions: tuple[str, ...]) -> Route:
    return Route(method, template, handler, versions, "Microsoft.Compute")


ROUTES = [
    _route("PUT", _DISK, r.create_or_update_disk, DISK_VERSIONS),
    _route("GET", _DISK, r.get_disk, DISK_VERSIONS),
    _route("DELETE", _DISK, r.delete_disk, DISK_VERSIONS),
    _route("GET", _RG + "/disks", r.list_disks, DISK_VERSIONS),
    _route("POST", _DISK + "/beginGetAccess", r.grant_access, DISK_VERSIONS),
    _route("POST", _DISK + "/endGetAccess", r.end_get_access, DISK_VERSIONS),
    _route("PUT", _SNAPSHOT, r.create_or_update_snapshot, DISK_VERSIONS),
    _route("GET", _SNAPSHOT, r.get_snapshot, DISK_VERSIONS),
    _route("DELETE", _SNAPSHOT, r.delete_snapshot, DISK_VERSIONS),
    _route("POST", _SNAPSHOT + "/beginGetAccess", r.grant_snapshot_access, DISK_VERSIONS),
    _route("POST", _SNAPSHOT + "/endGetAccess", r.revoke_snapshot_access, DISK_VERSIONS),
    _route("PUT", _RG + "/diskEncryptionSets/{diskEncryptionSetName}", r.create_or_update_disk_encryption_set,
           DISK_VERSIONS),
    _route("GET", _RG + "/diskEncryptionSets/{diskEncryptionSetName}", r.get_disk_encryption_set, DISK_VERSIONS),
    _route("PUT", _RG + "/availabilitySets/{availabilitySetName}", r.create_or_update_availability_set,
           COMPUTE_VERSIONS),
    _route("GET", _RG + "/availabilitySets/{availabilitySetName}", r.get_availability_set, COMPUTE_VERSIONS),
    _route("PUT", _VM, r.create_or_update_virtual_machine, COMPUTE_VERSIONS),
    _route("GET", _VM, r.get_virtual_machine, COMPUTE_VERSIONS),
    _route("DELETE", _VM, r.delete_virtual_machine, COMPUTE_VERSIONS),
    _route("GET", _RG + "/virtualMachines", r.list_virtual_machines, COMPUTE_VERSIONS),
    _route("GET", _VM + "/instanceView", r.instance_view, COMPUTE_VERSIONS),
    _route("POST", _VM + "/powerOff", r.power_off, COMPUTE_VERSIONS),
    _route("POST", _VM + "/deallocate", r.deallocate, COMPUTE_VERSIONS),
    _route("POST", _VM + "/start", r.start, COMPUTE_VERSIONS),
    _route("POST", _VM + "/restart", r.restart, COMPUTE_VERSIONS),
    _route("GET", _SUB + "/skus", r.list_resource_skus, SKU_VERSIONS),
    _route("GET", _SUB + "/locations/{location}/vmSizes", r.list_virtual_machine_sizes, COMPUTE_VERSIONS),
]
