"""The Azure side of the lab spec: its schema, and what the simulator holds on day one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from vmshift.lab.arm.compute.models import ComputeBackend
from vmshift.lab.arm.network.models import NetworkBackend
from vmshift.lab.arm.resources.models import ResourcesBackend
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import StorageBackend


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceGroupSpec(_Spec):
    name: str
    location: str


class SubnetSpec(_Spec):
    name: str
    prefix: str


class VirtualNetworkSpec(_Spec):
    name: str
    resource_group: str
    location: str
    address_space: list[str] = Field(min_length=1)
    subnets: list[SubnetSpec] = Field(default_factory=list)
    appliance: bool = False


class StorageAccountSpec(_Spec):
    name: str
    resource_group: str
    location: str
    kind: str = "StorageV2"
    sku: str = "Standard_LRS"
    # False: the lab's app may not approve private endpoints on this account (auto-approval refused).
    caller_may_approve: bool = True


class AvailabilitySetSpec(_Spec):
    name: str
    resource_group: str
    location: str
    fault_domains: int = 2
    update_domains: int = 5


class DiskEncryptionSetSpec(_Spec):
    name: str
    resource_group: str
    location: str
    encryption_type: str


class AzureSpec(_Spec):
    """The lab spec's `azure` section: the subscription a migration team finds on day one."""

    tenant_id: str
    subscription_id: str
    client_id: str
    regions: list[str] = Field(min_length=1)
    resource_groups: list[ResourceGroupSpec] = Field(default_factory=list)
    virtual_networks: list[VirtualNetworkSpec] = Field(default_factory=list)
    storage_accounts: list[StorageAccountSpec] = Field(default_factory=list)
    availability_sets: list[AvailabilitySetSpec] = Field(default_factory=list)
    disk_encryption_sets: list[DiskEncryptionSetSpec] = Field(default_factory=list)

    def appliance_vnet_ids(self) -> list[str]:
        return [f"/subscriptions/{self.subscription_id}/resourceGroups/{v.resource_group}/providers/"
                f"Microsoft.Network/virtualNetworks/{v.name}" for v in self.virtual_networks if v.appliance]


def seed(simulator: Simulator, spec: AzureSpec) -> None:
    """Create what the spec lists and the store lacks; what a run changed since stays as it is."""
    sub = spec.subscription_id
    store = simulator.store
    resources = ResourcesBackend(simulator)
    for group in spec.resource_groups:
        if store.get(f"/subscriptions/{sub}/resourceGroups/{group.name}") is None:
            resources.create_or_update_resource_group(sub, group.name, {"location": group.location})
    network = NetworkBackend(simulator)
    for vnet in spec.virtual_networks:
        if store.get(f"{simulator.group_scope(sub, vnet.resource_group)}/providers/Microsoft.Network/"
                     f"virtualNetworks/{vnet.name}") is None:
            body, _ = network.create_or_update_virtual_network(sub, vnet.resource_group, vnet.name, {
                "location": vnet.location,
                "properties": {"addressSpace": {"addressPrefixes": vnet.address_space},
                               "subnets": [{"name": s.name, "properties": {"addressPrefix": s.prefix}}
                                           for s in vnet.subnets]}})
            _succeeded(simulator, body)
    storage = StorageBackend(simulator)
    for account in spec.storage_accounts:
        if store.get(f"{simulator.group_scope(sub, account.resource_group)}/providers/Microsoft.Storage/"
                     f"storageAccounts/{account.name}") is None:
            body, _ = storage.create_storage_account(sub, account.resource_group, account.name, {
                "location": account.location, "kind": account.kind, "sku": {"name": account.sku}})
            _succeeded(simulator, body)
        storage.set_caller_may_approve(account.name, account.caller_may_approve, keep_existing=True)
    # Azurite may have been started afresh, or the store changed while the simulator was down.
    storage.publish_azurite_accounts()
    compute = ComputeBackend(simulator)
    for avset in spec.availability_sets:
        if store.get(f"{simulator.group_scope(sub, avset.resource_group)}/providers/Microsoft.Compute/"
                     f"availabilitySets/{avset.name}") is None:
            body, _ = compute.create_or_update_availability_set(sub, avset.resource_group, avset.name, {
                "location": avset.location, "sku": {"name": "Aligned"},
                "properties": {"platformFaultDomainCount": avset.fault_domains,
                               "platformUpdateDomainCount": avset.update_domains}})
            store.put(body["id"], body)
    for des in spec.disk_encryption_sets:
        if store.get(f"{simulator.group_scope(sub, des.resource_group)}/providers/Microsoft.Compute/"
                     f"diskEncryptionSets/{des.name}") is None:
            body, _ = compute.create_or_update_disk_encryption_set(sub, des.resource_group, des.name, {
                "location": des.location, "identity": {"type": "SystemAssigned"},
                "properties": {"encryptionType": des.encryption_type, "activeKey": {
                    "keyUrl": f"https://kv-lab.vault.azure.net/keys/{des.name}/00000000000000000000000000000001"}}})
            _succeeded(simulator, body)


def _succeeded(simulator: Simulator, body: dict) -> None:
    body["properties"]["provisioningState"] = "Succeeded"
    simulator.store.put(body["id"], body)
