"""The checks of a plan that ask the outside world: vCenter's inventory, the VM sizes and zones
ARM offers in a region, the subscriptions and VNets the credentials reach, and what is already replicating.

Validation sees these only through `PlanChecks`, so it is tested offline with `StaticChecks`
and the CLI hands it `vmshift.migration.live_checks.LiveChecks` (or `--offline` skips them).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vmshift.plan.columns import vnet_name
from vmshift.plan.schema import OsType, PlanError
from vmshift.vsphere.facts import VmFacts


@dataclass(frozen=True)
class OfferedSize:
    """A VM size offered in a region, with the zones it is offered in (empty: no zones)."""

    name: str
    zones: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReplicationState:
    """The settings a VM already replicates with; both are fixed once replication starts."""

    vm: str
    cache_storage_account: str
    region: str
    # Why its phase refuses a plan naming it (cut over, completed...: vmshift.state.lifecycle); None when it may
    # be planned.
    plan_refusal: str | None = None


class PlanChecks(Protocol):
    # The names of the vCenters the checks (and the flows) reach, the default one (an empty `vcenter` cell) first; a
    # row naming another one cannot run. Empty: any.
    vcenter_hosts: tuple[str, ...]

    def source_vms(self, vcenter: str | None = None) -> Iterable[VmFacts]:
        """Every VM in the inventory of the vCenter a row's `vcenter` cell names (None: the default one)."""
        ...

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        """The VM sizes the subscription may deploy in `region`."""
        ...

    def replication_state(self, vm: str) -> ReplicationState | None:
        """The VM's replication settings if it already replicates, else None."""
        ...

    def reaches_subscription(self, subscription_id: str) -> bool:
        """Whether the credentials reach the subscription (hold a role in it)."""
        ...

    def virtual_network_problem(self, vnet_id: str) -> str | None:
        """Why the VNet cannot be used (not found, not readable), or None when it can."""
        ...

    def access_errors(self, rows: Sequence[Mapping[str, Any]]) -> list[PlanError]:
        """What vCenter and Azure would refuse the plan's steps (every missing privilege and action at once)."""
        ...


@dataclass(frozen=True)
class StaticChecks:
    """Checks answered from facts gathered beforehand (tests, or a saved inventory)."""

    vms: tuple[VmFacts, ...] = ()
    sizes: Mapping[str, tuple[OfferedSize, ...]] = field(default_factory=dict)
    replications: Mapping[str, ReplicationState] = field(default_factory=dict)
    vcenter_hosts: tuple[str, ...] = ()
    # The subscriptions and VNet IDs known to exist (lower case); None: every one asked about.
    subscriptions: frozenset[str] | None = None
    networks: frozenset[str] | None = None
    refusals: tuple[PlanError, ...] = ()  # what access_errors answers

    def source_vms(self, vcenter: str | None = None) -> Iterable[VmFacts]:
        return self.vms if vcenter is None else tuple(vm for vm in self.vms if not vm.vcenter or _same_vcenter(
            vm.vcenter, vcenter))

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        return self.sizes.get(region, ())

    def replication_state(self, vm: str) -> ReplicationState | None:
        return self.replications.get(vm)

    def reaches_subscription(self, subscription_id: str) -> bool:
        return self.subscriptions is None or subscription_id.lower() in self.subscriptions

    def virtual_network_problem(self, vnet_id: str) -> str | None:
        return None if self.networks is None or vnet_id.lower() in self.networks else "not found"

    def access_errors(self, rows: Sequence[Mapping[str, Any]]) -> list[PlanError]:
        return list(self.refusals)


@dataclass
class _Facts:
    """What the checks answered, asked once per validation (each region once)."""

    checks: PlanChecks
    _vms: dict[str | None, dict[str, VmFacts]] = field(default_factory=dict)  # by vCenter (None: the default)
    _sizes: dict[str, dict[str, OfferedSize]] = field(default_factory=dict)
    _subscriptions: dict[str, bool] = field(default_factory=dict)
    _networks: dict[str, str | None] = field(default_factory=dict)

    def vm(self, name_or_moref: str, vcenter: str | None = None) -> VmFacts | None:
        return self._inventory(vcenter).get(name_or_moref)

    def vm_names(self, vcenter: str | None = None) -> list[str]:
        return [key for key, vm in self._inventory(vcenter).items() if key == vm.name]

    def _inventory(self, vcenter: str | None) -> dict[str, VmFacts]:
        """The VMs of a row's vCenter by name and by moref, read once; the default one's under None."""
        default = self.checks.vcenter_hosts[:1]
        if vcenter is not None and default and _same_vcenter(vcenter, default[0]):
            vcenter = None
        if vcenter not in self._vms:
            self._vms[vcenter] = {key: vm for vm in self.checks.source_vms(vcenter) for key in (vm.moref, vm.name)}
        return self._vms[vcenter]

    def reaches(self, subscription_id: str) -> bool:
        key = subscription_id.lower()
        if key not in self._subscriptions:
            self._subscriptions[key] = self.checks.reaches_subscription(subscription_id)
        return self._subscriptions[key]

    def network_problem(self, vnet_id: str) -> str | None:
        key = vnet_id.lower()
        if key not in self._networks:
            self._networks[key] = self.checks.virtual_network_problem(vnet_id)
        return self._networks[key]

    def sizes(self, region: str) -> dict[str, OfferedSize]:
        if region not in self._sizes:
            self._sizes[region] = {size.name.lower(): size for size in self.checks.offered_sizes(region)}
        return self._sizes[region]


def check_rows(rows: Iterable[dict[str, Any]], checks: PlanChecks) -> tuple[dict[int, OsType], list[PlanError]]:
    """Online errors for parsed rows, and each row's guest OS as vCenter reports it (by row number).

    A row is a dict of parsed column values plus `row` and `labels` (column → name the user wrote).
    """
    rows = list(rows)
    facts = _Facts(checks)
    errors: list[PlanError] = []
    os_types: dict[int, OsType] = {}
    for values in rows:
        row, labels = values["row"], values["labels"]

        def error(column: str, message: str, row: int = row, labels: dict = labels) -> None:
            errors.append(PlanError(row, labels.get(column, column), message))

        vcenter = values.get("vcenter") or None
        hosts = checks.vcenter_hosts
        if vcenter and hosts and not any(_same_vcenter(vcenter, host) for host in hosts):
            error("vcenter", f"vmshift reaches vCenter {', '.join(hosts)} (VMSHIFT_VCENTER_NAME, VMSHIFT_VCENTERS), "
                             f"not {vcenter}; allowed: {', '.join(hosts)} or empty")
            continue
        source = values.get("source_vm")
        vm = facts.vm(source, vcenter) if source else None
        if source and vm is None:
            close = difflib.get_close_matches(source, facts.vm_names(vcenter), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            error("source_vm", f"{source!r} is not in the {vcenter + ' ' if vcenter else ''}vCenter inventory "
                               f"(matched exactly, by name or moref like vm-42){hint}")
        if vm is not None:
            planned = values.get("os_type")
            reported = OsType(vm.os_type) if vm.os_type else None
            if reported:
                os_types[row] = reported
            if planned and reported and planned != reported:
                error("os_type", f"vCenter reports {vm.guest_os!r} ({reported}) for {vm.name}; "
                                 f"allowed: {reported} or empty")
            numbers = [values.get("os_disk")] + [number for number, _ in values.get("disks") or ()]
            for number in sorted({n for n in numbers if n}):
                if number > vm.disk_count:
                    error("disks" if number != values.get("os_disk") else "os_disk",
                          f"{vm.name} has {vm.disk_count} disk(s); disk {number} does not exist; "
                          f"allowed: 1 to {vm.disk_count}")
        _check_region(values, facts, error)
        _check_networks(values, facts, error)
        state = checks.replication_state(vm.name if vm else source) if source else None
        if state is not None and state.plan_refusal:
            error("source_vm", f"{source}: {state.plan_refusal}")
        if state is not None:
            if values.get("cache_storage_account") and state.cache_storage_account != values[
                    "cache_storage_account"]:
                error("cache_storage_account",
                      f"{source} already replicates to {state.cache_storage_account!r}; the cache storage "
                      f"account is fixed once replication starts (as in Azure Migrate); allowed: "
                      f"{state.cache_storage_account}, or stop its replication first")
            if values.get("region") and state.region != values["region"]:
                error("region", f"{source} already replicates to region {state.region!r}; the region is fixed "
                                f"once replication starts; allowed: {state.region}, or stop its replication first")
    # A subscription out of reach is named on its rows already: its actions would only repeat it.
    errors.extend(checks.access_errors([values for values in rows if not values.get("target_subscription")
                                        or facts.reaches(values["target_subscription"])]))
    return os_types, errors


def _same_vcenter(vcenter: str, host: str) -> bool:
    """Whether a plan's `vcenter` cell (a host name, maybe with a port) names the vCenter of that name."""
    return vcenter.split(":")[0].lower() == host.split(":")[0].lower()


def _check_networks(values: dict[str, Any], facts: _Facts, error: Callable[[str, str], None]) -> None:
    """The VM's subscription is one the credentials reach, and its VNets are in it (a name: in its group)."""
    subscription, group = values.get("target_subscription"), values.get("resource_group")
    if not subscription:
        return
    if not facts.reaches(subscription):
        error("target_subscription", f"subscription {subscription} is not one vmshift's credentials reach (it holds "
                                     "no role there); allowed: a subscription where vmshift's identity holds the "
                                     "documented roles (docs/permissions.md)")
        return
    for column in ("target_vnet", "test_vnet"):
        vnet = values.get(column)
        if not vnet or (not group and not vnet.startswith("/")):
            continue
        vnet_id = vnet if vnet.startswith("/") else (
            f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}")
        if problem := facts.network_problem(vnet_id):
            where = f"resource group {group} of " if not vnet.startswith("/") else ""
            error(column, f"VNet {vnet_name(vnet)} is not in {where}subscription {subscription} ({problem}); "
                          "allowed: a VNet of target_subscription that vmshift's identity may read")


def _check_region(values: dict[str, Any], facts: _Facts, error: Callable[[str, str], None]) -> None:
    region = values.get("region")
    if not region:
        return
    sizes = facts.sizes(region)
    if not sizes:
        error("region", f"no VM size is offered in {region!r} to this subscription; allowed: a region "
                        "where the subscription may deploy VMs")
        return
    size_name, zone = values.get("vm_size"), values.get("availability_zone")
    size = sizes.get(size_name.lower()) if size_name else None
    if size_name and size is None:
        examples = ", ".join(sorted(s.name for s in sizes.values())[:8])
        error("vm_size", f"{size_name!r} is not offered in {region}; allowed: a size offered there "
                         f"(such as {examples})")
    if zone:
        offered = size.zones if size else frozenset().union(*(s.zones for s in sizes.values()))
        if zone not in offered:
            what = f"{size.name} in {region}" if size else region
            allowed = ", ".join(sorted(offered)) or "none (leave it empty)"
            error("availability_zone", f"zone {zone} is not offered for {what}; allowed: {allowed}")
