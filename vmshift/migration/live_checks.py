"""The plan's checks against the live estate: vCenter's inventory, what ARM offers in a region, and what already
replicates, read from the cache accounts' state documents. `vmshift.plan.checks` defines what is asked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.core.tools import parse_resource_id
from azure.storage.blob import BlobServiceClient

from vmshift.azure.clients import AzureClients
from vmshift.azure.clients import connect as connect_azure
from vmshift.azure.sizing import region_offer
from vmshift.migration.access import access_errors
from vmshift.migration.appliance import Appliance
from vmshift.plan.checks import OfferedSize, ReplicationState
from vmshift.plan.schema import PlanError
from vmshift.replication.storage import blob_service_client
from vmshift.state import lifecycle
from vmshift.state.document import VmState
from vmshift.state.lifecycle import LifecycleRefused, Step
from vmshift.state.store import DEFAULT_CONTAINER, StateStore
from vmshift.vsphere.connection import VCenterConfig, VSphereSession
from vmshift.vsphere.connection import connect as connect_vcenter
from vmshift.vsphere.facts import VmFacts, facts_from_inventory
from vmshift.vsphere.inventory import inventory

log = logging.getLogger(__name__)
SUBSCRIPTIONS_API = "2022-12-01"  # Microsoft.Resources' subscriptions, as `az account` asks them


class LiveChecks:
    """Checks against vCenter (a VSphereSession: the default vCenter's) and ARM (AzureClients); what replicates is
    asked of `replication_state`, which knows where the state documents are. `other_vcenters`: the further
    vCenters a row may name, each logged in to (as its own user) when a row first names it; `close` logs out."""

    def __init__(
        self,
        vsphere_session: VSphereSession,
        azure_clients: AzureClients,
        replication_state: Callable[[str], ReplicationState | None],
        appliance: Appliance | None = None,
        other_vcenters: Sequence[VCenterConfig] = (),
    ) -> None:
        self._session = vsphere_session
        self._clients = azure_clients
        self._replication_state = replication_state
        self._appliance = appliance or Appliance.from_env()
        self._others = [config for config in other_vcenters if config.name != vsphere_session.config.name]
        self._opened: dict[str, VSphereSession] = {}
        self.vcenter_hosts = (vsphere_session.config.name, *(config.name for config in self._others))

    def vcenter_session(self, vcenter: str | None) -> VSphereSession | None:
        """The session of the vCenter a row's `vcenter` cell names (None: the default); None for one not known."""
        if vcenter is None or self._session.config.known_as(vcenter):
            return self._session
        config = next((config for config in self._others if config.known_as(vcenter)), None)
        if config is None:
            return None
        if config.name not in self._opened:
            self._opened[config.name] = connect_vcenter(config)
        return self._opened[config.name]

    def close(self) -> None:
        """Log out of the further vCenters the checks logged in to (the default session is the caller's)."""
        for session in self._opened.values():
            session.close()
        self._opened.clear()

    def source_vms(self, vcenter: str | None = None) -> Iterable[VmFacts]:
        session = self.vcenter_session(vcenter)
        return () if session is None else tuple(facts_from_inventory(inventory(session)).values())

    def offered_sizes(self, region: str) -> Iterable[OfferedSize]:
        return tuple(OfferedSize(size.name, size.zones) for size in region_offer(self._clients, region).sizes)

    def replication_state(self, vm: str) -> ReplicationState | None:
        return self._replication_state(vm)

    def reaches_subscription(self, subscription_id: str) -> bool:
        """ARM shows a subscription to whoever holds a role in it, and answers 404 for any other."""
        response = self._clients.network.send_request(
            HttpRequest("GET", f"/subscriptions/{quote(subscription_id)}?api-version={SUBSCRIPTIONS_API}"))
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    def virtual_network_problem(self, vnet_id: str) -> str | None:
        parts = parse_resource_id(vnet_id)
        network = self._clients.for_subscription(parts["subscription"]).network
        try:
            network.virtual_networks.get(parts["resource_group"], parts["name"])
        except ResourceNotFoundError as error:
            return f"ARM: {error.error.code if error.error else 'not found'}"
        except HttpResponseError as error:
            if error.status_code != 403:
                raise
            return "ARM: AuthorizationFailed, vmshift's identity may not read it"
        return None

    def access_errors(self, rows: Sequence[Mapping[str, Any]]) -> list[PlanError]:
        return access_errors(self._clients, self.vcenter_session, self._appliance, rows)


class CacheAccountStates:
    """Where VMs already replicate: a VM's state document lives in the cache storage account it
    replicates to, and that account's region is the replication's region."""

    def __init__(self, accounts: Mapping[str, str], state_container: str = DEFAULT_CONTAINER,
                 services: Mapping[str, BlobServiceClient] | None = None) -> None:
        self._regions = dict(accounts)  # account name -> region
        services = services or {account: blob_service_client(account) for account in accounts}
        self._stores = {account: StateStore.for_account(account, state_container, services[account])
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
            try:
                # The hybrid model's `keys` attribute is the Mapping method: the list is its "keys" item.
                keys = clients.storage.storage_accounts.list_keys(group, account.name)["keys"] or []
            except HttpResponseError as error:
                if error.status_code != 403:
                    raise
                # Least privilege: listKeys only on the cache accounts' group; another account is not vmshift's.
                log.warning("storage account %s: not allowed to list its keys (%s), skipped", account.name,
                            error.error.code if error.error else 403)
                continue
            services[account.name] = blob_service_client(
                account.name, key=keys[0].value if keys else None,
                url=account.primary_endpoints.blob if account.primary_endpoints else None)
        return cls({name: region for name, region in ((a.name, a.location) for a in accounts) if name in services},
                   state_container, services)

    def __call__(self, vm: str) -> ReplicationState | None:
        for account, store in self._stores.items():
            if account in self._unreadable:
                continue
            try:
                stored = store.load(vm)
            except (HttpResponseError, ServiceRequestError, ClientAuthenticationError) as error:
                # An account vmshift cannot read holds no replication of its own; it is named, not fatal.
                self._unreadable.add(account)
                log.warning("cannot read state documents in storage account %s (%s): skipped",
                            account, str(error).splitlines()[0])
                continue
            if stored.etag is not None:
                return ReplicationState(vm, account, self._regions[account], _plan_refusal(stored.state))
        return None


def _plan_refusal(state: VmState) -> str | None:
    try:
        lifecycle.next_phase(state, Step.PLAN_UPLOAD)
    except LifecycleRefused as refused:
        return refused.reason
    return None


@contextmanager
def live_checks_from_env(
    replication_state: Callable[[str], ReplicationState | None] | None = None,
) -> Iterator[LiveChecks]:
    """LiveChecks against the vCenters and ARM the environment names (VMSHIFT_VCENTER_*, VMSHIFT_VCENTERS,
    AZURE_*, VMSHIFT_ARM_*), logged out of each vCenter afterwards; by default what replicates is read from the
    subscription's storage accounts (CacheAccountStates)."""
    clients = connect_azure()
    with connect_vcenter(VCenterConfig.from_env()) as session:
        checks = LiveChecks(session, clients, replication_state or CacheAccountStates.from_azure(clients),
                            other_vcenters=VCenterConfig.all_from_env())
        try:
            yield checks
        finally:
            checks.close()
