"""Names of the target resources, derived from the target VM's name so that a second run finds them."""

from __future__ import annotations

import re

from vmshift.azure.errors import BuildInputInvalid

TEST_SUFFIX = "-test"
# Azure's naming rules: a Windows VM's name becomes its computer name (15 characters at most); Linux
# allows 64. Neither may hold ~!@#$%^&*()=+_[]{}\|;:.'",<>/? or spaces, nor end with a hyphen; disk and
# NIC names allow 80 characters of letters, digits, '_', '.', '-' and end in a letter, digit or '_'.
_VM_NAME_MAX = {"Windows": 15, "Linux": 64}
_VM_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_CHILD_NAME_MAX = 80


def target_vm_name(source_vm: str, requested: str | None, os_type: str, *, test: bool = False) -> str:
    """The VM's name: the plan's, else the source's; `-test` appended for a test migration."""
    base = requested or source_vm
    limit = _VM_NAME_MAX[os_type]
    if not _VM_NAME.match(base) or len(base) > limit:
        raise BuildInputInvalid(
            source_vm,
            "target_vm_name",
            f"{base!r} breaks Azure's naming rules for a {os_type} VM: 1-{limit} letters, digits and "
            "hyphens, not starting or ending with a hyphen",
        )
    if not test:
        return base
    return base[: limit - len(TEST_SUFFIX)].rstrip("-") + TEST_SUFFIX


def os_disk_name(vm_name: str) -> str:
    return _child(f"{vm_name}-osdisk")


def data_disk_name(vm_name: str, lun: int) -> str:
    return _child(f"{vm_name}-datadisk-{lun}")


def nic_name(vm_name: str) -> str:
    return _child(f"{vm_name}-nic")


def _child(name: str) -> str:
    return name[:_CHILD_NAME_MAX]
