"""Tags on the VM, its disks and its NICs: the plan's, plus vmshift's own that tie a resource to its source."""

from __future__ import annotations

from collections.abc import Mapping

from vmshift.azure.errors import BuildInputInvalid

SOURCE_VM_TAG = "vmshift-source-vm"
RUN_TAG = "vmshift-run"
PURPOSE_TAG = "vmshift-purpose"
PURPOSE_TEST = "test-migration"
PURPOSE_MIGRATION = "migration"

# Azure's limits: 50 tags a resource, names up to 512 characters (without < > % & \ ? /), values up to 256.
_MAX_TAGS = 50
_FORBIDDEN_IN_NAME = set("<>%&\\?/")


def vmshift_tags(source_vm: str, run_id: str, purpose: str) -> dict[str, str]:
    """The tags cleanup and audits find a resource by: which source VM, which run, test or migration."""
    return {SOURCE_VM_TAG: source_vm, RUN_TAG: run_id, PURPOSE_TAG: purpose}


def merge_tags(vm: str, field: str, requested: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """The plan's tags with vmshift's own on top (a plan cannot mask them), checked against Azure's limits."""
    clashing = sorted(name for name in requested if name.lower() in {o.lower() for o in own})
    if clashing:
        raise BuildInputInvalid(vm, field, f"tag names {clashing} are vmshift's own; rename them")
    merged = dict(requested) | dict(own)
    if len(merged) > _MAX_TAGS:
        raise BuildInputInvalid(vm, field, f"{len(merged)} tags with vmshift's own 3; Azure allows {_MAX_TAGS}")
    for name, value in merged.items():
        if not name or len(name) > 512 or _FORBIDDEN_IN_NAME & set(name):
            raise BuildInputInvalid(vm, field, f"tag name {name!r}: 1-512 characters, none of < > % & \\ ? /")
        if len(value) > 256:
            raise BuildInputInvalid(vm, field, f"tag {name!r}: value longer than 256 characters")
    return merged
