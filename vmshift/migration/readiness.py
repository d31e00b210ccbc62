"""Readiness: which VMs may start replicating, and which may cut over now, each with its reasons.

Two tables, both pure functions of facts already gathered (the vCenter inventory, the VM's replication
state, the plan), so that every rule is tested without vCenter, Azure or Prefect.

Replication readiness follows Azure Migrate's agentless support matrix and Forklift's validations:
a blocking finding stops that VM only; a warning is shown and the VM goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from vmshift.azure.naming import vm_name_problem
from vmshift.schedule import BlackoutWindow, in_blackout
from vmshift.vsphere.facts import VmFacts

TIB = 1024**4
MAX_DATA_DISKS = 64
MAX_OS_DISK_BYTES = {"bios": 2 * TIB, "efi": 4 * TIB}  # Gen1 (MBR) and Gen2 (GPT) OS disks in Azure
MAX_DATA_DISK_BYTES = 32 * TIB


@dataclass(frozen=True)
class Readiness:
    """One VM's verdict: ready when nothing blocks it."""

    vm: str
    blocking: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.blocking


def replication_readiness(vm: VmFacts) -> Readiness:
    """Whether `vm` may start replicating; every blocking reason says what to change in vSphere or the plan."""
    blocking: list[str] = []
    warnings: list[str] = []
    if vm.snapshot_count:
        blocking.append(f"{vm.snapshot_count} existing snapshot(s) keep CBT from being enabled: "
                        f"delete or consolidate them in vCenter")
    replicated = [disk for disk in vm.disks if not disk.rdm]
    for disk in vm.disks:
        label = f"disk {disk.key} ({disk.datastore_path})"
        if disk.rdm:
            warnings.append(f"{label} is a raw device mapping (RDM) and is not replicated")
            continue
        if disk.sharing == "sharingMultiWriter":
            blocking.append(f"{label} is multi-writer: Azure managed disks cannot take it; turn sharing off")
        elif disk.sharing != "sharingNone":
            blocking.append(f"{label} is shared ({disk.sharing}): turn sharing off")
        if disk.mode.startswith("independent"):
            blocking.append(f"{label} is independent ({disk.mode}): snapshots leave it out; make it dependent")
        if not disk.datastore_path.isascii():
            warnings.append(f"{label} has a non-ASCII path; some datastore tools mangle it")
    if not replicated:
        blocking.append("no disk to replicate")
    else:
        os_disk = next((d for d in replicated if d.key == vm.os_disk_key), replicated[0])
        os_limit = MAX_OS_DISK_BYTES.get(vm.firmware, MAX_OS_DISK_BYTES["bios"])
        if os_disk.capacity_bytes > os_limit:
            blocking.append(f"OS disk {os_disk.key} is {os_disk.capacity_bytes / TIB:.1f} TiB, over Azure's "
                            f"{os_limit // TIB} TiB for {vm.firmware.upper()} firmware")
        data_disks = [d for d in replicated if d is not os_disk]
        if len(data_disks) > MAX_DATA_DISKS:
            blocking.append(f"{len(data_disks)} data disks, over Azure's {MAX_DATA_DISKS}")
        blocking.extend(
            f"data disk {d.key} is {d.capacity_bytes / TIB:.1f} TiB, over Azure's {MAX_DATA_DISK_BYTES // TIB} TiB"
            for d in data_disks if d.capacity_bytes > MAX_DATA_DISK_BYTES
        )
    if problem := azure_name_problem(vm.target_name or vm.name, vm.is_windows):
        blocking.append(problem)
    if vm.nic_count > 1:
        warnings.append(f"{vm.nic_count} NICs: check each NIC's target subnet in the plan")
    return Readiness(vm.name, tuple(blocking), tuple(warnings))


def azure_name_problem(name: str, windows: bool) -> str | None:
    """Why Azure would refuse `name` for a VM, or None (the build's rule: vmshift.azure.naming)."""
    problem = vm_name_problem(name, "Windows" if windows else "Linux")
    return f"target name {problem}: set a target name in the plan" if problem else None


def readiness_table(verdicts: Iterable[Readiness]) -> pd.DataFrame:
    """One row per VM, for the wave's readiness artifact and `--json` output."""
    return pd.DataFrame(
        [{"vm": v.vm, "ready": v.ready, "blocking": "; ".join(v.blocking), "warnings": "; ".join(v.warnings)}
         for v in verdicts],
        columns=["vm", "ready", "blocking", "warnings"],
    )


# Cutover readiness ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutoverFacts:
    """One VM's replication state and plan entries as the cutover gates read them."""

    vm: str
    last_delta_end: datetime | None
    # Why the VM's phase refuses a cutover (vmshift.state.lifecycle): replication failing or stopped, a test VM
    # still there, cut over already, completed...; None when its phase allows one.
    phase_refusal: str | None = None
    test_migrated: bool = False
    application_group: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    cutover_at: datetime | None = None  # the VM's own time, beside the wave's window
    allow_cutover: bool = True  # Azure Migrate's OK_TO_MIGRATE
    appliance: str = ""
    # Why the final delta may not write to the VM's cache account: its DNS gate is closed (None: open).
    closed_gate: str | None = None


@dataclass(frozen=True)
class CutoverPolicy:
    """The bounds the gates apply; defaults suit a team that delta-syncs on Azure Migrate's rule."""

    max_delta_age: timedelta = timedelta(hours=13)
    skip_test_migration: bool = False
    blackouts: Mapping[str, Sequence[BlackoutWindow]] = field(default_factory=dict)


def cutover_refusals(facts: CutoverFacts, now: datetime, policy: CutoverPolicy) -> list[str]:
    """Why this VM alone may not cut over now; empty when it may."""
    reasons: list[str] = []
    if facts.phase_refusal:
        reasons.append(facts.phase_refusal)
    if facts.closed_gate:
        reasons.append(facts.closed_gate)
    if not facts.allow_cutover:
        reasons.append("the plan says not to migrate this VM (OK_TO_MIGRATE=N)")
    if facts.last_delta_end is None:
        reasons.append("no replication cycle has finished yet")
    elif now - facts.last_delta_end > policy.max_delta_age:
        reasons.append(f"the last delta cycle ended at {facts.last_delta_end.isoformat()}, more than "
                       f"{policy.max_delta_age} ago: run a delta cycle first")
    if not facts.test_migrated and not policy.skip_test_migration:
        reasons.append("never test-migrated: run a test migration, or ask for the cutover with the test skipped")
    if facts.window_start is not None and now < facts.window_start:
        reasons.append(f"outside the cutover window: it opens at {facts.window_start.isoformat()}")
    if facts.window_end is not None and now > facts.window_end:
        reasons.append(f"outside the cutover window: it closed at {facts.window_end.isoformat()}")
    if facts.cutover_at is not None and now < facts.cutover_at:
        reasons.append(f"the VM's own cutover time is {facts.cutover_at.isoformat()}")
    if in_blackout(now, policy.blackouts.get(facts.appliance, ())):
        reasons.append(f"appliance {facts.appliance} is in a blackout window")
    return reasons


def cutover_decisions(
    requested: Sequence[CutoverFacts],
    now: datetime,
    policy: CutoverPolicy,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """Refusal reasons per requested VM (empty list: go); an application group goes together or not at all."""
    decisions = {facts.vm: cutover_refusals(facts, now, policy) for facts in requested}
    members_by_group: dict[str, set[str]] = {name: set(members) for name, members in (groups or {}).items()}
    for facts in requested:
        if facts.application_group:
            members_by_group.setdefault(facts.application_group, set()).add(facts.vm)
    for group, members in members_by_group.items():
        asked = members & decisions.keys()
        if not asked:
            continue
        missing = sorted(members - asked)
        refused = sorted(vm for vm in asked if decisions[vm])
        for vm in asked:
            if missing:
                decisions[vm].append(f"application group {group} cuts over together: also ask for {', '.join(missing)}")
            others = [other for other in refused if other != vm]
            if others:
                decisions[vm].append(f"application group {group} cuts over together and {', '.join(others)} "
                                     f"is refused")
    return decisions
