"""Global concurrency limits that bound a wave, with Azure Migrate's appliance figures as defaults.

Each limit is one Prefect global concurrency limit per scope (an ESXi host, a datastore, an appliance,
a vCenter). They must exist before a flow takes a slot: an unknown name limits nothing, so callers
take slots with `strict=True` and the setup command creates every name a wave will ask for.
This module names and sizes them and says which slots a VM's cycle takes; `tasks/slots.py` creates them on the
Prefect server and takes them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum

from vmshift.migration.appliance import Appliance
from vmshift.vsphere.facts import VmFacts


class LimitKind(StrEnum):
    """What a limit protects; the value is the prefix of its Prefect name."""

    # The ESXi host's NFC buffer serves 8 disk reads at once (Azure Migrate's agentless figure).
    HOST_DISK_READS = "vmshift-host-disk-reads"
    # More snapshots at once per datastore than 15 slow every VM on it (Azure Migrate's figure).
    DATASTORE_SNAPSHOTS = "vmshift-datastore-snapshots"
    # One Azure Migrate appliance moves at most 52 disks at once.
    APPLIANCE_DISKS = "vmshift-appliance-disks"
    # Azure Migrate replicates at most 300 VMs at once per vCenter.
    VCENTER_REPLICATING_VMS = "vmshift-vcenter-replicating-vms"


DEFAULT_LIMITS: Mapping[LimitKind, int] = {
    LimitKind.HOST_DISK_READS: 8,
    LimitKind.DATASTORE_SNAPSHOTS: 15,
    LimitKind.APPLIANCE_DISKS: 52,
    LimitKind.VCENTER_REPLICATING_VMS: 300,
}

# Prefect refuses these characters in names; a vCenter URL or a datastore name may hold them.
_BANNED = re.compile(r"[/%&<>]")


class LimitOverrideInvalid(ValueError):
    """An override names an unknown limit kind or gives a limit below 1."""


def limit_name(kind: LimitKind, scope: str) -> str:
    """The Prefect name of `kind`'s limit for one scope, e.g. `vmshift-host-disk-reads:esx-01.lab.local`."""
    if not scope:
        raise ValueError(f"{kind.value}: the scope (host, datastore, appliance or vCenter) is empty")
    return f"{kind.value}:{_BANNED.sub('-', scope)}"


def resolve_limits(overrides: Mapping[str, int] | None = None) -> dict[LimitKind, int]:
    """Defaults with the user's overrides, keyed by kind value (`{"vmshift-host-disk-reads": 4}`)."""
    limits = dict(DEFAULT_LIMITS)
    for key, value in (overrides or {}).items():
        try:
            kind = LimitKind(key)
        except ValueError:
            known = ", ".join(kind.value for kind in LimitKind)
            raise LimitOverrideInvalid(f"unknown concurrency limit {key!r}; known limits: {known}") from None
        if not isinstance(value, int) or value < 1:
            raise LimitOverrideInvalid(f"concurrency limit {key} must be a whole number of at least 1, not {value!r}")
        limits[kind] = value
    return limits


def planned_limits(
    hosts: Iterable[str],
    datastores: Iterable[str],
    appliances: Iterable[str],
    vcenters: Iterable[str],
    overrides: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Every limit name a wave over these scopes will take, with its size: what setup must create."""
    limits = resolve_limits(overrides)
    scopes = {
        LimitKind.HOST_DISK_READS: hosts,
        LimitKind.DATASTORE_SNAPSHOTS: datastores,
        LimitKind.APPLIANCE_DISKS: appliances,
        LimitKind.VCENTER_REPLICATING_VMS: vcenters,
    }
    return {limit_name(kind, scope): limits[kind] for kind, names in scopes.items() for scope in sorted(set(names))}


def vm_slots(facts: VmFacts, appliance: Appliance, included_disks: Collection[int] | None = None
             ) -> list[tuple[str, int]]:
    """The global limits one VM's cycle holds, and how many slots of each: one per disk it reads where disks count
    (`included_disks`, the plan's by vSphere key: a disk left out is never read; None: every disk), one snapshot
    per datastore of the VM (vSphere snapshots the whole VM)."""
    disks = sum(1 for disk in facts.disks
                if not disk.rdm and (included_disks is None or disk.key in included_disks))
    # The VM's own vCenter, as the inventory names it: every appliance serving it then shares one limit.
    slots = [(limit_name(LimitKind.VCENTER_REPLICATING_VMS, facts.vcenter or appliance.vcenter), 1),
             (limit_name(LimitKind.APPLIANCE_DISKS, appliance.name), disks),
             (limit_name(LimitKind.HOST_DISK_READS, facts.host or appliance.vcenter), disks)]
    slots += [(limit_name(LimitKind.DATASTORE_SNAPSHOTS, datastore), 1) for datastore in facts.datastores]
    return slots


def limits_for(
    facts: Iterable[VmFacts], appliance: Appliance, overrides: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Every limit the VMs' cycles will take (`vm_slots`), at its default size or as overridden: what must
    exist before they start."""
    chosen = list(facts)
    return planned_limits(hosts=[f.host or appliance.vcenter for f in chosen],
                          datastores=[ds for f in chosen for ds in f.datastores],
                          appliances=[appliance.name],
                          vcenters=[f.vcenter or appliance.vcenter for f in chosen] or [appliance.vcenter],
                          overrides=overrides)
