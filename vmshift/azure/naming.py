"""Names of the target resources, derived from the target VM's name so that a second run finds them.

The one rule for a VM's name: the plan's validation, readiness and the build all ask `vm_name_problem`.
"""

from __future__ import annotations

import re

from azure.mgmt.core.tools import parse_resource_id, resource_id

from vmshift.azure.errors import BuildInputInvalid

TEST_SUFFIX = "-test"
# Azure's naming rules: a Windows VM's name becomes its computer name (15 characters at most); Linux allows 64.
# Azure refuses ~!@#$%^&*()=+_[]{}\|;:.'",<>/? and spaces in a VM name, and Azure Migrate's own check
# (Set-AzMigrateServerReplication) takes letters, digits and hyphens only, not starting or ending with a hyphen.
VM_NAME_MAX = {"Windows": 15, "Linux": 64}
_VM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
VM_NAME_ALLOWED = "letters, digits and hyphens, starting and ending with a letter or digit"
# Disk and NIC names: 80 characters of letters, digits, '_', '.', '-', starting with a letter or digit and
# ending in a letter, digit or '_' (Azure's rules for Microsoft.Compute/disks and networkInterfaces).
CHILD_NAME_MAX = 80
_CHILD_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
CHILD_NAME_ALLOWED = ("1 to 80 letters, digits, '_', '.' and '-', starting with a letter or digit, ending in a "
                      "letter, digit or '_'")


def vm_name_problem(name: str, os_type: str) -> str | None:
    """Why Azure refuses `name` for a VM of `os_type` ("Windows" or "Linux"), or None."""
    limit = VM_NAME_MAX[os_type]
    if len(name) > limit:
        return f"{_quoted(name)} has {len(name)} characters; Azure allows {limit} for a {os_type} VM"
    if not _VM_NAME.fullmatch(name):
        return f"{_quoted(name)} breaks Azure's naming rules for a VM: {VM_NAME_ALLOWED}"
    return None


def child_name_problem(name: str) -> str | None:
    """Why Azure refuses `name` for a managed disk or a NIC, or None."""
    if not _CHILD_NAME.fullmatch(name):
        return f"{_quoted(name)} breaks Azure's naming rules for a disk or NIC: {CHILD_NAME_ALLOWED}"
    return None


def _quoted(name: str) -> str:
    """A name as a message quotes it: a pasted kilobyte does not flood the message."""
    return repr(name if len(name) <= 80 else name[:77] + "...")


def target_vm_name(source_vm: str, requested: str | None, os_type: str, *, test: bool = False) -> str:
    """The VM's name: the plan's, else the source's; `-test` appended for a test migration."""
    base = requested or source_vm
    if problem := vm_name_problem(base, os_type):
        raise BuildInputInvalid(source_vm, "target_vm_name", problem)
    if not test:
        return base
    limit = VM_NAME_MAX[os_type]
    return base[: limit - len(TEST_SUFFIX)].rstrip("-") + TEST_SUFFIX


def os_disk_name(vm_name: str) -> str:
    return _child(f"{vm_name}-osdisk")


def data_disk_name(vm_name: str, lun: int) -> str:
    return _child(f"{vm_name}-datadisk-{lun}")


def nic_name(vm_name: str, position: int = 0) -> str:
    """The NIC at `position` (0: the primary) of the VM, when the plan names none."""
    return _child(f"{vm_name}-nic" + (f"-{position + 1}" if position else ""))


def test_copy_name(name: str) -> str:
    """A disk's or NIC's name, planned for the migration, given to its test-migration copy."""
    return _child(name[: CHILD_NAME_MAX - len(TEST_SUFFIX)] + TEST_SUFFIX)


def _child(name: str) -> str:
    return name[:CHILD_NAME_MAX]


def vnet_id(subscription_id: str, resource_group: str, vnet: str) -> str:
    """A plan names a VNet in the target group, or gives its full resource ID."""
    if vnet.startswith("/"):
        return vnet
    return resource_id(subscription=subscription_id, resource_group=resource_group, namespace="Microsoft.Network",
                       type="virtualNetworks", name=vnet)


def subnet_id(vnet: str, subnet: str) -> str:
    """The ID of a subnet of the VNet whose resource ID is `vnet`."""
    parts = parse_resource_id(vnet.rstrip("/"))
    return resource_id(subscription=parts["subscription"], resource_group=parts["resource_group"],
                       namespace=parts["namespace"], type=parts["type"], name=parts["name"],
                       child_type_1="subnets", child_name_1=subnet)
