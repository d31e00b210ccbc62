"""The Azure actions vmshift needs, by step and scope, and the check that its identity holds them.

One table, REQUIRED_ACTIONS: docs/permissions.md explains it, docs/roles/ holds the custom roles made of it,
and `check_permissions` reads ARM's permissions API for each scope a step touches and evaluates the
actions and notActions as ARM does, so that a step is refused before it builds anything, with every missing
action at once rather than a 403 AuthorizationFailed halfway through a build.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.core.tools import parse_resource_id

from vmshift.azure.clients import AzureClients
from vmshift.azure.errors import PermissionsMissing
from vmshift.steps import MigrationStep

PERMISSIONS_API_VERSION = "2022-04-01"


class Scope(StrEnum):
    """Where an action is needed (and where a role is assigned for it)."""

    SUBSCRIPTION = "subscription"  # each target subscription
    CACHE_RESOURCE_GROUP = "cache resource group"  # the cache storage account and its private endpoint
    HUB_VNET = "hub VNet"  # the appliance's VNet: the endpoint's subnet, the private DNS zone's link
    PRIVATE_DNS_ZONE_RESOURCE_GROUP = "private DNS zone resource group"  # privatelink.blob.core.windows.net
    TARGET_RESOURCE_GROUP = "target resource group"  # disks, NICs and VMs of each plan row
    TARGET_VNET = "target VNet"  # the VNets of target and test subnets


@dataclass(frozen=True)
class Role:
    """A custom role of docs/roles/, as `az role definition create --role-definition @file` takes it."""

    name: str
    file: str
    scopes: frozenset[Scope]


OPERATOR_ROLE = Role(
    "vmshift Migration Operator", "docs/roles/azure-migration-operator.json",
    frozenset(Scope) - {Scope.SUBSCRIPTION},
)
# VM sizes and zones are offered per subscription: the one read the subscription itself must allow, in a role of
# its own so that the operator role is never assigned that wide.
SUBSCRIPTION_ROLE = Role("vmshift Subscription Reader", "docs/roles/azure-subscription-reader.json",
                         frozenset({Scope.SUBSCRIPTION}))


@dataclass(frozen=True)
class RequiredAction:
    action: str
    scope: Scope
    steps: frozenset[MigrationStep]
    calls: str  # what vmshift calls that needs it
    only_when: str | None = None  # a condition of the plan; checked only when the caller says it holds

    @property
    def role(self) -> Role:
        return SUBSCRIPTION_ROLE if self.scope == Scope.SUBSCRIPTION else OPERATOR_ROLE


_D, _R, _T, _C, _B = (MigrationStep.DISCOVERY, MigrationStep.REPLICATION, MigrationStep.TEST_MIGRATION,
                      MigrationStep.CUTOVER, MigrationStep.ROLLBACK)
_BUILD = frozenset({_T, _C})  # test migration and cutover build the same way


def _req(action: str, scope: Scope, steps: Iterable[MigrationStep], calls: str,
         only_when: str | None = None) -> RequiredAction:
    return RequiredAction(action, scope, frozenset(steps), calls, only_when)


REQUIRED_ACTIONS: tuple[RequiredAction, ...] = (
    # The subscription.
    _req("Microsoft.Compute/skus/read", Scope.SUBSCRIPTION, {_D, _T, _C},
         "resourceSkus.list: the VM sizes and zones the region offers (plan checks, size choice)"),
    # The cache storage account's resource group.
    _req("Microsoft.Storage/storageAccounts/read", Scope.CACHE_RESOURCE_GROUP, {_D, _R},
         "storageAccounts.list over the subscription (ARM answers the accounts the caller may read), to find "
         "the VMs of the plan that already replicate; storageAccounts.getProperties, the cache account's "
         "preflight"),
    _req("Microsoft.Storage/storageAccounts/listKeys/action", Scope.CACHE_RESOURCE_GROUP, {_D, *_BUILD},
         "storageAccounts.listKeys: the replication state documents (plan checks); disks.createOrUpdate with "
         "createOption Import, which Azure authorizes on the account the blobs are read from"),
    _req("Microsoft.Storage/storageAccounts/privateEndpointConnectionsApproval/action", Scope.CACHE_RESOURCE_GROUP,
         {_R}, "privateEndpoints.createOrUpdate with an automatic connection; without it vmshift asks for a "
         "manual one, which the account's owner approves"),
    # The DNS gate's reads: before each replication cycle, and before the test migration and the cutover write
    # to the cache account (a prepared copy, the final delta).
    _req("Microsoft.Network/privateEndpoints/read", Scope.CACHE_RESOURCE_GROUP, {_R, *_BUILD},
         "privateEndpoints.get: the endpoint once created, its approval, the DNS gate before each write"),
    _req("Microsoft.Network/privateEndpoints/write", Scope.CACHE_RESOURCE_GROUP, {_R},
         "privateEndpoints.createOrUpdate: the blob endpoint of the cache account"),
    _req("Microsoft.Network/networkInterfaces/read", Scope.CACHE_RESOURCE_GROUP, {_R, *_BUILD},
         "networkInterfaces.get: the endpoint's private IP"),
    _req("Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read", Scope.CACHE_RESOURCE_GROUP, {_R},
         "privateDnsZoneGroups.get"),
    _req("Microsoft.Network/privateEndpoints/privateDnsZoneGroups/write", Scope.CACHE_RESOURCE_GROUP, {_R},
         "privateDnsZoneGroups.createOrUpdate: the endpoint's A record in the private zone"),
    # The hub VNet (the appliance's).
    _req("Microsoft.Network/virtualNetworks/read", Scope.HUB_VNET, {_R},
         "virtualNetworks.get: the endpoint's region, and that the appliance reaches its VNet (peerings)"),
    _req("Microsoft.Network/virtualNetworks/subnets/read", Scope.HUB_VNET, {_R}, "subnets.get: the endpoint subnet"),
    _req("Microsoft.Network/virtualNetworks/subnets/join/action", Scope.HUB_VNET, {_R},
         "privateEndpoints.createOrUpdate: the endpoint's NIC joins the endpoint subnet"),
    _req("Microsoft.Network/virtualNetworks/join/action", Scope.HUB_VNET, {_R},
         "virtualNetworkLinks.createOrUpdate: the private zone is linked to the VNet"),
    # The private DNS zone's resource group.
    _req("Microsoft.Network/privateDnsZones/read", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP, {_R, *_BUILD},
         "privateZones.get: the zone, and the DNS gate"),
    _req("Microsoft.Network/privateDnsZones/write", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP, {_R},
         "privateZones.createOrUpdate: the zone, once"),
    _req("Microsoft.Network/privateDnsZones/join/action", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP, {_R},
         "privateDnsZoneGroups.createOrUpdate: the endpoint's zone group names the zone"),
    _req("Microsoft.Network/privateDnsZones/virtualNetworkLinks/read", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP,
         {_R, *_BUILD},
         "virtualNetworkLinks.list: the zone's link to the VNet, and the DNS gate"),
    _req("Microsoft.Network/privateDnsZones/virtualNetworkLinks/write", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP,
         {_R}, "virtualNetworkLinks.createOrUpdate: the zone's link to the VNet, once"),
    _req("Microsoft.Network/privateDnsZones/A/read", Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP, {_R, *_BUILD},
         "recordSets.get: the DNS gate compares the account's A record with the endpoint's IP"),
    # Each target resource group.
    _req("Microsoft.Compute/disks/read", Scope.TARGET_RESOURCE_GROUP, {*_BUILD, _B},
         "disks.get, disks.listByResourceGroup: a disk an earlier run imported; what to clean up"),
    _req("Microsoft.Compute/disks/write", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "disks.createOrUpdate: managed disks imported from the recovery point's blob snapshots, or made for "
         "upload (a cutover's staged disks)"),
    _req("Microsoft.Compute/disks/beginGetAccess/action", Scope.TARGET_RESOURCE_GROUP, {_C},
         "disks.grantAccess (Write): fill the staged disks from the recovery point before the outage"),
    _req("Microsoft.Compute/disks/delete", Scope.TARGET_RESOURCE_GROUP, {*_BUILD, _B},
         "disks.delete: a test's disks on clean-up, a stale import, "
         "rollback with its disks"),
    _req("Microsoft.Compute/disks/endGetAccess/action", Scope.TARGET_RESOURCE_GROUP, {_C, _B},
         "disks.revokeAccess: seal a staged disk for its VM; before deleting a disk an earlier vmshift left "
         "readable"),
    _req("Microsoft.Compute/snapshots/read", Scope.TARGET_RESOURCE_GROUP, {_C},
         "snapshots.get: a frozen copy an earlier run took of an imported disk"),
    _req("Microsoft.Compute/snapshots/write", Scope.TARGET_RESOURCE_GROUP, {_C},
         "snapshots.createOrUpdate: frozen copies of the imported disks, before the VM starts"),
    _req("Microsoft.Compute/snapshots/delete", Scope.TARGET_RESOURCE_GROUP, {_C, _B},
         "snapshots.delete: the frozen copies once the disks are proven, or on rollback"),
    _req("Microsoft.Compute/snapshots/beginGetAccess/action", Scope.TARGET_RESOURCE_GROUP, {_C},
         "snapshots.grantAccess: read the frozen copies to prove the disks against the manifests"),
    _req("Microsoft.Compute/snapshots/endGetAccess/action", Scope.TARGET_RESOURCE_GROUP, {_C, _B},
         "snapshots.revokeAccess: after the verification, and before deleting a frozen copy"),
    _req("Microsoft.Compute/virtualMachines/read", Scope.TARGET_RESOURCE_GROUP, {*_BUILD, _B},
         "virtualMachines.get, virtualMachines.list: the VM an earlier run built; what to roll back"),
    _req("Microsoft.Compute/virtualMachines/write", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "virtualMachines.createOrUpdate: the VM with the imported disks attached"),
    _req("Microsoft.Compute/virtualMachines/delete", Scope.TARGET_RESOURCE_GROUP, {_T, _B},
         "virtualMachines.delete: the test VM on clean-up, the target VM on rollback"),
    _req("Microsoft.Network/networkInterfaces/read", Scope.TARGET_RESOURCE_GROUP, {*_BUILD, _B},
         "networkInterfaces.get, networkInterfaces.list"),
    _req("Microsoft.Network/networkInterfaces/write", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "networkInterfaces.createOrUpdate: the VM's NIC in the target (or test) subnet"),
    _req("Microsoft.Network/networkInterfaces/delete", Scope.TARGET_RESOURCE_GROUP, {_T, _B},
         "networkInterfaces.delete: on clean-up and rollback"),
    _req("Microsoft.Network/networkInterfaces/join/action", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "virtualMachines.createOrUpdate: the VM uses its NIC"),
    _req("Microsoft.Compute/availabilitySets/read", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "availabilitySets.get: the plan's availability set exists in the target group and region",
         only_when="availability set"),
    _req("Microsoft.Compute/diskEncryptionSets/read", Scope.TARGET_RESOURCE_GROUP, _BUILD,
         "diskEncryptionSets.get: the plan's disk encryption set exists in the target group and region",
         only_when="disk encryption set"),
    _req("Microsoft.SqlVirtualMachine/sqlVirtualMachines/read", Scope.TARGET_RESOURCE_GROUP, frozenset({_C}),
         "sqlVirtualMachines.get: the SQL Server registration an earlier run made", only_when="SQL Server VM"),
    _req("Microsoft.SqlVirtualMachine/sqlVirtualMachines/write", Scope.TARGET_RESOURCE_GROUP, frozenset({_C}),
         "sqlVirtualMachines.createOrUpdate: the migrated SQL Server VM's license type", only_when="SQL Server VM"),
    # Each target (and test) VNet.
    _req("Microsoft.Network/virtualNetworks/subnets/read", Scope.TARGET_VNET, _BUILD,
         "subnets.get, subnets.list: the target subnet, the test VNet's subnets"),
    _req("Microsoft.Network/virtualNetworks/subnets/join/action", Scope.TARGET_VNET, _BUILD,
         "networkInterfaces.createOrUpdate: the NIC joins the target (or test) subnet"),
)


def role_actions(role: Role) -> list[str]:
    """The actions of a custom role of docs/roles/: every action of the table at the role's scopes."""
    return sorted({required.action for required in REQUIRED_ACTIONS if required.scope in role.scopes})


@dataclass(frozen=True)
class Grant:
    """One entry of ARM's permissions API: one role assignment's actions and notActions at the scope."""

    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()


@cache
def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in wildcard.split("*")), re.IGNORECASE)


def action_matches(pattern: str, action: str) -> bool:
    """ARM's match of an action against a role's action or notAction: case-insensitive, and `*` stands for any
    run of characters, slashes included (`Microsoft.Network/*/read`, `*`)."""
    return _pattern(pattern).fullmatch(action) is not None


def allows(grants: Iterable[Grant], action: str) -> bool:
    """As ARM evaluates: some assignment's actions match and that same assignment's notActions do not (a
    notAction only takes away from its own role, never from another role's grant)."""
    return any(
        any(action_matches(p, action) for p in grant.actions) and not any(
            action_matches(p, action) for p in grant.not_actions
        )
        for grant in grants
    )


@dataclass(frozen=True)
class MissingAction:
    action: str
    scope_id: str
    scope: Scope
    calls: str
    role: Role


def scope_grants(clients: AzureClients, scope_id: str) -> list[Grant] | None:
    """What the signed-in identity may do at the scope (a subscription, resource group or resource ID), from
    ARM's permissions API, asked in the scope's own subscription. An identity refused even that (403) holds
    nothing there; a scope ARM does not find (404: a subscription the identity holds no role in, a group not
    made yet) is None, left to the checks that name what is missing."""
    parts = parse_resource_id(scope_id)
    clients = clients.for_subscription(parts["subscription"])
    permissions = clients.authorization.permissions
    try:
        if "name" in parts:
            entries = [p.as_dict() for p in permissions.list_for_resource(
                parts["resource_group"], parts["resource_namespace"], parts["resource_parent"].rstrip("/"),
                parts["resource_type"], parts["resource_name"],
            )]
        elif "resource_group" in parts:
            entries = [p.as_dict() for p in permissions.list_for_resource_group(parts["resource_group"])]
        else:
            entries = _subscription_permissions(clients, parts["subscription"])
    except HttpResponseError as error:
        if error.status_code == 403:
            return []
        if error.status_code == 404:
            return None
        raise
    return [Grant(tuple(e.get("actions") or ()), tuple(e.get("not_actions") or e.get("notActions") or ()))
            for e in entries]


def missing_actions(
    clients: AzureClients,
    step: MigrationStep,
    scopes: Mapping[Scope, Sequence[str]],
    conditions: Iterable[str] = (),
) -> list[MissingAction]:
    """Every action `step` needs at the given scopes (scope kind -> IDs) that the identity is not allowed.
    An action with a condition (`only_when`) is checked only when `conditions` names it."""
    conditions = set(conditions)
    missing = []
    for kind, scope_ids in scopes.items():
        needed = [r for r in REQUIRED_ACTIONS if r.scope == kind and step in r.steps
                  and (r.only_when is None or r.only_when in conditions)]
        if not needed:
            continue
        for scope_id in dict.fromkeys(scope_ids):
            grants = scope_grants(clients, scope_id)
            if grants is None:
                continue
            missing.extend(MissingAction(r.action, scope_id, kind, r.calls, r.role)
                           for r in needed if not allows(grants, r.action))
    return missing


def check_permissions(
    clients: AzureClients,
    step: MigrationStep,
    scopes: Mapping[Scope, Sequence[str]],
    conditions: Iterable[str] = (),
) -> None:
    """Raises PermissionsMissing naming every action `step` needs and the identity lacks, at which scope."""
    missing = missing_actions(clients, step, scopes, conditions)
    if missing:
        raise PermissionsMissing(_identity(), str(step), missing)


def _identity() -> str:
    client_id = os.environ.get("AZURE_CLIENT_ID")
    return f"service principal {client_id}" if client_id else "the signed-in identity"


def _subscription_permissions(clients: AzureClients, subscription: str) -> list[dict]:
    # The SDK has the operation for resource groups and resources only; ARM answers it for a subscription too.
    request = HttpRequest("GET", f"/subscriptions/{subscription}/providers/Microsoft.Authorization/permissions",
                          params={"api-version": PERMISSIONS_API_VERSION})
    entries: list[dict] = []
    while request is not None:
        response = clients.authorization._send_request(request)  # the SDK's documented way to a custom request
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code != 200:
            raise HttpResponseError(response=response)
        body = response.json()
        entries.extend(body.get("value") or [])
        request = HttpRequest("GET", body["nextLink"]) if body.get("nextLink") else None
    return entries
