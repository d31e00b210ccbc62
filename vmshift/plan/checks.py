"""The checks of a plan that ask the outside world: vCenter's inventory, the VM sizes and zones
ARM offers in a region, and what is already replicating.

Validation sees these only through `PlanChecks`, so it is tested offline with `StaticChecks`
and the CLI hands it `LiveChecks` (or `--offline` skips them).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

import pandas as pd
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.mgmt.core.tools import parse_resource_id
from azure.storage.blob import BlobServiceClient

from vmshift.azure.clients import AzureClients
from vmshift.azure.clients import connect as connect_azure
from vmshift.azure.sizing import region_offer
from vmshift.plan.schema import OsType, PlanError
from vmshift.replication.storage import blob_service_client
from vmshift.state.store import DEFAULT_CONTAINER, StateStore
from vmshift.vsphere.connection import VCenterConfig, VSphereSession
from vmshift.vsphere.connection import connect as connect_vcenter
from vmshift.vsphere.inventory import inventory

log = logging.getLogger(__name__)

# Markers of Linux in vSphere guest ids (VirtualMachineGuestOsIdentifier).
_LINUX_GUESTS = ("linux", "ubuntu", "rhel", "centos", "debian", "sles", "suse", "oracle", "rocky", "alma",
                 "fedora", "photon", "coreos", "asianux", "mandr", "turbo", "amazon")


@dataclass(frozen=True)
class SourceVm:
    """What the plan needs to know of a VM in vCenter."""

    name: str
    moref: str
    guest_os: str
    disk_count: int

    @property
    def os_type(self) -> OsType | None:
        """From vSphere's guest id (windows2019srv_64Guest, rhel8_64Guest); None when it does not say."""
        guest = self.guest_os.lower()
        if "win" in guest:
            return OsType.WINDOWS
        if any(marker in guest for marker in _LINUX_GUESTS):
            return OsType.LINUX
        return None


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


class PlanChecks(Protocol):
    # The host of the vCenter the checks (and the flows) talk to; a row naming another one cannot run.
    vcenter_host: str | None

    def source_vms(self) -> Iterable[SourceVm]:
        """Every VM in the vCenter inventory."""
        ...

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        """The VM sizes the subscription may deploy in `region`."""
        ...

    def replication_state(self, vm: str) -> ReplicationState | None:
        """The VM's replication settings if it already replicates, else None."""
        ...


@dataclass(frozen=True)
class StaticChecks:
    """Checks answered from facts gathered beforehand (tests, or a saved inventory)."""

    vms: tuple[SourceVm, ...] = ()
    sizes: Mapping[str, tuple[OfferedSize, ...]] = field(default_factory=dict)
    replications: Mapping[str, ReplicationState] = field(default_factory=dict)
    vcenter_host: str | None = None

    def source_vms(self) -> Iterable[SourceVm]:
        return self.vms

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        return self.sizes.get(region, ())

    def replication_state(self, vm: str) -> ReplicationState | None:
        return self.replications.get(vm)


class LiveChecks:
    """Checks against vCenter (a VSphereSession) and ARM (AzureClients); what replicates is asked of
    `replication_state`, which knows where the state documents are."""

    def __init__(
        self,
        vsphere_session: VSphereSession,
        azure_clients: AzureClients,
        replication_state: Callable[[str], ReplicationState | None],
    ) -> None:
        self._session = vsphere_session
        self._clients = azure_clients
        self._replication_state = replication_state
        self.vcenter_host = urlparse(vsphere_session.config.url).hostname

    def source_vms(self) -> Iterable[SourceVm]:
        return source_vms_from_inventory(inventory(self._session))

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        return tuple(OfferedSize(size.name, size.zones) for size in region_offer(self._clients, region).sizes)

    def replication_state(self, vm: str) -> ReplicationState | None:
        return self._replication_state(vm)


class CacheAccountStates:
    """Where VMs already replicate: a VM's state document lives in the cache storage account it
    replicates to, and that account's region is the replication's region."""

    def __init__(self, accounts: Mapping[str, str], state_container: str = DEFAULT_CONTAINER,
                 services: Mapping[str, BlobServiceClient] | None = None) -> None:
        self._regions = dict(accounts)  # account name -> region
        services = services or {account: blob_service_client(account) for account in accounts}
        self._stores = {account: StateStore(services[account].get_container_client(state_container))
                        for account in sorted(accounts)}
        self._unreadable: set[str] = set()

    @classmethod
    def from_azure(cls, clients: AzureClients, state_container: str = DEFAULT_CONTAINER) -> CacheAccountStates:
        """Every general-purpose v2 account of the subscription is a cache account candidate; each is read with
        the key ARM gives, as the appliance does, so that no data-plane role is needed."""
        accounts = [a for a in clients.storage.storage_accounts.list() if a.kind == "StorageV2"]
        services = {}
        for account in accounts:
            group = parse_resource_id(account.id)["resource_group"]
            # The hybrid model's `keys` attribute is the Mapping method: the list is its "keys" item.
            keys = clients.storage.storage_accounts.list_keys(group, account.name)["keys"] or []
            services[account.name] = blob_service_client(
                account.name, key=keys[0].value if keys else None,
                url=account.primary_endpoints.blob if account.primary_endpoints else None)
        return cls({account.name: account.location for account in accounts}, state_container, services)

    def __call__(self, vm: str) -> ReplicationState | None:
        for account, store in self._stores.items():
            if account in self._unreadable:
                continue
            try:
                replicating = store.load(vm).etag is not None
            except (HttpResponseError, ServiceRequestError, ClientAuthenticationError) as error:
                # An account vmshift cannot read holds no replication of its own; it is named, not fatal.
                self._unreadable.add(account)
                log.warning("cannot read state documents in storage account %s (%s): skipped",
                            account, str(error).splitlines()[0])
                continue
            if replicating:
                return ReplicationState(vm, account, self._regions[account])
        return None


@contextmanager
def live_checks_from_env(
    replication_state: Callable[[str], ReplicationState | None] | None = None,
) -> Iterator[LiveChecks]:
    """LiveChecks against the vCenter and ARM the environment names (VMSHIFT_VCENTER_*, AZURE_*, VMSHIFT_ARM_*),
    logged out of vCenter afterwards; by default what replicates is read from the subscription's storage
    accounts (CacheAccountStates)."""
    clients = connect_azure()
    with connect_vcenter(VCenterConfig.from_env()) as session:
        yield LiveChecks(session, clients, replication_state or CacheAccountStates.from_azure(clients))


def source_vms_from_inventory(frame: pd.DataFrame) -> tuple[SourceVm, ...]:
    """SourceVms from the vSphere inventory frame (one row per VM disk: vm, moref, guest_os, disk_key...)."""
    return tuple(
        SourceVm(str(rows["vm"].iloc[0]), str(moref), str(rows["guest_os"].iloc[0] or ""),
                 int(rows["disk_key"].notna().sum()))
        for moref, rows in frame.groupby("moref", sort=False)
    )


@dataclass
class _Facts:
    """What the checks answered, asked once per validation (each region once)."""

    checks: PlanChecks
    _vms: dict[str, SourceVm] | None = None
    _sizes: dict[str, dict[str, OfferedSize]] = field(default_factory=dict)

    def vm(self, name_or_moref: str) -> SourceVm | None:
        if self._vms is None:
            self._vms = {}
            for vm in self.checks.source_vms():
                self._vms[vm.moref] = vm
                self._vms[vm.name] = vm
        return self._vms.get(name_or_moref)

    def vm_names(self) -> list[str]:
        return [key for key, vm in (self._vms or {}).items() if key == vm.name]

    def sizes(self, region: str) -> dict[str, OfferedSize]:
        if region not in self._sizes:
            self._sizes[region] = {size.name.lower(): size for size in self.checks.offered_sizes(region)}
        return self._sizes[region]


def check_rows(rows: Iterable[dict[str, Any]], checks: PlanChecks) -> tuple[dict[int, OsType], list[PlanError]]:
    """Online errors for parsed rows, and each row's guest OS as vCenter reports it (by row number).

    A row is a dict of parsed column values plus `row` and `labels` (column → name the user wrote).
    """
    facts = _Facts(checks)
    errors: list[PlanError] = []
    os_types: dict[int, OsType] = {}
    for values in rows:
        row, labels = values["row"], values["labels"]

        def error(column: str, message: str, row: int = row, labels: dict = labels) -> None:
            errors.append(PlanError(row, labels.get(column, column), message))

        vcenter = values.get("vcenter")
        if vcenter and checks.vcenter_host and vcenter.split(":")[0].lower() != checks.vcenter_host.lower():
            error("vcenter", f"vmshift works with vCenter {checks.vcenter_host} (VMSHIFT_VCENTER_URL), not "
                             f"{vcenter}; allowed: {checks.vcenter_host} or empty (plan each vCenter separately)")
            continue
        source = values.get("source_vm")
        vm = facts.vm(source) if source else None
        if source and vm is None:
            close = difflib.get_close_matches(source, facts.vm_names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            error("source_vm", f"{source!r} is not in the vCenter inventory (matched exactly, by name or "
                               f"moref like vm-42){hint}")
        if vm is not None:
            planned = values.get("os_type")
            if vm.os_type:
                os_types[row] = vm.os_type
            if planned and vm.os_type and planned != vm.os_type:
                error("os_type", f"vCenter reports {vm.guest_os!r} ({vm.os_type}) for {vm.name}; "
                                 f"allowed: {vm.os_type} or empty")
            numbers = [values.get("os_disk")] + [number for number, _ in values.get("disks") or ()]
            for number in sorted({n for n in numbers if n}):
                if number > vm.disk_count:
                    error("disks" if number != values.get("os_disk") else "os_disk",
                          f"{vm.name} has {vm.disk_count} disk(s); disk {number} does not exist; "
                          f"allowed: 1 to {vm.disk_count}")
        _check_region(values, facts, error)
        state = checks.replication_state(vm.name if vm else source) if source else None
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
    return os_types, errors


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
