"""Microsoft.Compute: managed disks and snapshots, disk encryption sets, availability sets, VMs.

One module per resource type, as govmomi's simulator keeps one file per managed object;
ComputeBackend joins them, as moto's EC2Backend joins its parts. The regions' sizes are in
`compute/catalog.py`.
"""

from vmshift.lab.arm.compute.models.availability_sets import AVAILABILITY_SET, AvailabilitySetBackend
from vmshift.lab.arm.compute.models.disk_encryption_sets import DISK_ENCRYPTION_SET, DiskEncryptionSetBackend
from vmshift.lab.arm.compute.models.disks import DISK, SNAPSHOT, DiskBackend
from vmshift.lab.arm.compute.models.virtual_machines import VIRTUAL_MACHINE, VirtualMachineBackend

__all__ = ["AVAILABILITY_SET", "DISK", "DISK_ENCRYPTION_SET", "SNAPSHOT", "VIRTUAL_MACHINE", "ComputeBackend"]


class ComputeBackend(DiskBackend, DiskEncryptionSetBackend, AvailabilitySetBackend, VirtualMachineBackend):
    namespace = "Microsoft.Compute"
