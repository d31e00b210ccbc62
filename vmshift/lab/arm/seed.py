"""The Azure side of the lab spec: its schema, and what the simulator holds on day one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vmshift.lab.arm.authorization.models import AuthorizationBackend, absolute_scope
from vmshift.lab.arm.compute.models import ComputeBackend
from vmshift.lab.arm.identity import object_id
from vmshift.lab.arm.network.models import NetworkBackend
from vmshift.lab.arm.resources.models import ResourcesBackend
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import StorageBackend

# The custom roles docs/permissions.md documents, as an administrator creates them (az role definition create).
DOCUMENTED_ROLES = Path(__file__).resolve().parents[3] / "docs" / "roles"
OPERATOR_ROLE = "vmshift Migration Operator"
SUBSCRIPTION_ROLE = "vmshift Subscription Reader"


def documented_azure_roles() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(DOCUMENTED_ROLES.glob("azure-*.json"))]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleAssignmentSpec(_Spec):
    """A role vmshift's app holds: a built-in or custom role's name, at a scope relative to the subscription
    ("" the subscription, "resourceGroups/rg-hub", ".../providers/Microsoft.Network/virtualNetworks/vnet-hub")."""

    role: str
    scope: str = ""


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
    # VNets peered with this one, both ways (Connected): IDs, or relative to the lab's subscription
    # ("resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub").
    peered_with: list[str] = Field(default_factory=list)


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


class SubscriptionSpec(_Spec):
    """Another subscription of the lab tenant, where a plan may put VMs (the cache accounts stay in the
    appliance's); by default vmshift's app holds the documented roles in it too."""

    subscription_id: str
    subscription_name: str
    resource_groups: list[ResourceGroupSpec] = Field(default_factory=list)
    virtual_networks: list[VirtualNetworkSpec] = Field(default_factory=list)
    availability_sets: list[AvailabilitySetSpec] = Field(default_factory=list)
    disk_encryption_sets: list[DiskEncryptionSetSpec] = Field(default_factory=list)


class AzureSpec(_Spec):
    """The lab spec's `azure` section: the appliance's subscription a migration team finds on day one, and the
    tenant's other subscriptions."""

    tenant_id: str
    subscription_id: str
    subscription_name: str = "vmshift lab"
    client_id: str
    regions: list[str] = Field(min_length=1)
    resource_groups: list[ResourceGroupSpec] = Field(default_factory=list)
    virtual_networks: list[VirtualNetworkSpec] = Field(default_factory=list)
    storage_accounts: list[StorageAccountSpec] = Field(default_factory=list)
    availability_sets: list[AvailabilitySetSpec] = Field(default_factory=list)
    disk_encryption_sets: list[DiskEncryptionSetSpec] = Field(default_factory=list)
    subscriptions: list[SubscriptionSpec] = Field(default_factory=list)
    # The lab's administrator app: Owner of every subscription, what tests set the world up with (never vmshift).
    admin_client_id: str = "5e1ab000-0000-4000-8000-0000000000ad"
    # Custom roles in az's JSON; by default the documented ones (docs/roles/azure-*.json).
    custom_roles: list[dict[str, Any]] = Field(default_factory=documented_azure_roles)
    # What vmshift's app holds; by default the documented roles and nothing more: in each subscription, the
    # operator role on each of its resource groups and the subscription reader at the subscription.
    role_assignments: list[RoleAssignmentSpec] | None = None

    def all_subscriptions(self) -> list[SubscriptionSpec]:
        """The appliance's subscription first, then the others."""
        return [SubscriptionSpec(subscription_id=self.subscription_id, subscription_name=self.subscription_name,
                                 resource_groups=self.resource_groups, virtual_networks=self.virtual_networks,
                                 availability_sets=self.availability_sets,
                                 disk_encryption_sets=self.disk_encryption_sets), *self.subscriptions]

    def vmshift_role_assignments(self) -> list[RoleAssignmentSpec]:
        if self.role_assignments is not None:
            return self.role_assignments
        return [assignment for sub in self.all_subscriptions() for assignment in (
            RoleAssignmentSpec(role=SUBSCRIPTION_ROLE, scope=f"/subscriptions/{sub.subscription_id}"),
            *(RoleAssignmentSpec(role=OPERATOR_ROLE, scope=f"/subscriptions/{sub.subscription_id}/resourceGroups/"
                                                           f"{g.name}") for g in sub.resource_groups))]

    def appliance_vnet_ids(self) -> list[str]:
        return [f"/subscriptions/{self.subscription_id}/resourceGroups/{v.resource_group}/providers/"
                f"Microsoft.Network/virtualNetworks/{v.name}" for v in self.virtual_networks if v.appliance]


def seed(simulator: Simulator, spec: AzureSpec) -> None:
    """Create what the spec lists and the store lacks; what a run changed since stays as it is."""
    store = simulator.store
    rbac = AuthorizationBackend(simulator)
    for role in spec.custom_roles:
        rbac.create_or_update_role_definition(role)
    rbac.set_assignments(object_id(spec.admin_client_id),
                         [("Owner", f"/subscriptions/{s.subscription_id}") for s in spec.all_subscriptions()])
    vmshift = object_id(spec.client_id)
    if not rbac.assignments(vmshift):  # kept across restarts, as a run (or a test) changed them
        rbac.set_assignments(vmshift, [(a.role, absolute_scope(spec.subscription_id, a.scope))
                                       for a in spec.vmshift_role_assignments()])
    resources, network = ResourcesBackend(simulator), NetworkBackend(simulator)
    for subscription in spec.all_subscriptions():
        sub = subscription.subscription_id
        for group in subscription.resource_groups:
            if store.get(f"/subscriptions/{sub}/resourceGroups/{group.name}") is None:
                resources.create_or_update_resource_group(sub, group.name, {"location": group.location})
        for vnet in subscription.virtual_networks:
            if store.get(_vnet_id(sub, vnet)) is None:
                body, _ = network.create_or_update_virtual_network(sub, vnet.resource_group, vnet.name, {
                    "location": vnet.location,
                    "properties": {"addressSpace": {"addressPrefixes": vnet.address_space},
                                   "subnets": [{"name": s.name, "properties": {"addressPrefix": s.prefix}}
                                               for s in vnet.subnets]}})
                _succeeded(simulator, body)
    for subscription in spec.all_subscriptions():
        for vnet in subscription.virtual_networks:
            for remote in vnet.peered_with:
                network.peer_both_ways(_vnet_id(subscription.subscription_id, vnet),
                                       absolute_scope(spec.subscription_id, remote))
    storage = StorageBackend(simulator)
    sub = spec.subscription_id
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
    for subscription in spec.all_subscriptions():
        sub = subscription.subscription_id
        for avset in subscription.availability_sets:
            if store.get(f"{simulator.group_scope(sub, avset.resource_group)}/providers/Microsoft.Compute/"
                         f"availabilitySets/{avset.name}") is None:
                body, _ = compute.create_or_update_availability_set(sub, avset.resource_group, avset.name, {
                    "location": avset.location, "sku": {"name": "Aligned"},
                    "properties": {"platformFaultDomainCount": avset.fault_domains,
                                   "platformUpdateDomainCount": avset.update_domains}})
                store.put(body["id"], body)
        for des in subscription.disk_encryption_sets:
            if store.get(f"{simulator.group_scope(sub, des.resource_group)}/providers/Microsoft.Compute/"
                         f"diskEncryptionSets/{des.name}") is None:
                body, _ = compute.create_or_update_disk_encryption_set(sub, des.resource_group, des.name, {
                    "location": des.location, "identity": {"type": "SystemAssigned"},
                    "properties": {"encryptionType": des.encryption_type, "activeKey": {
                        "keyUrl": f"https://kv-lab.vault.azure.net/keys/{des.name}/00000000000000000000000000000001"}}})
                _succeeded(simulator, body)


def _vnet_id(subscription_id: str, vnet: VirtualNetworkSpec) -> str:
    return (f"/subscriptions/{subscription_id}/resourceGroups/{vnet.resource_group}/providers/Microsoft.Network/"
            f"virtualNetworks/{vnet.name}")


def _succeeded(simulator: Simulator, body: dict) -> None:
    body["properties"]["provisioningState"] = "Succeeded"
    simulator.store.put(body["id"], body)
