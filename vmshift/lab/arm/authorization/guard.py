"""The one place the simulator authorizes a request, before any provider sees it: each route and method maps to
ARM's action (`{namespace}/{types}/read|write|delete`, `.../{verb}/action` for a POST) at the scope of its path,
and a PUT that names another resource needs the linked action there too (joining a subnet, approving a private
endpoint on a storage account...). A refusal is ARM's 403 with its message, naming the client, the action and
the scope; nothing is created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vmshift.lab.arm.authorization.models import AuthorizationBackend, covers
from vmshift.lab.arm.errors import ArmError
from vmshift.lab.arm.identity import Caller
from vmshift.lab.arm.routing import Route
from vmshift.lab.arm.simulator import Simulator
from vmshift.lab.arm.storage.models import StorageBackend

_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
# Answered to any signed-in caller: polling an operation it started, reading its own permissions, the tenant's
# subscriptions and the providers' metadata that clients read before anything else.
_OPEN_TYPES = ("Microsoft.Resources/tenants", "Microsoft.Resources/subscriptions", "Microsoft.Resources/providers",
               "Microsoft.Authorization/permissions")
APPROVAL = "Microsoft.Storage/storageAccounts/privateEndpointConnectionsApproval/action"


def required_action(route: Route, path: str) -> tuple[str, str] | None:
    """ARM's action for the request and the scope it is checked at; None when any signed-in caller may."""
    opened = route.resource_type in _OPEN_TYPES or route.resource_type.endswith(("/operations", "/operationResults"))
    if opened and not route.template.endswith("/register"):
        return None
    verb = "action" if route.method == "POST" else _VERBS[route.method]
    template, segments = route.template.split("/"), path.rstrip("/").split("/")
    if "providers" not in template:  # resource groups, ARM's own type: a group, or the subscription for the list
        listed = "/resources" if template[-1] == "resources" else ""  # the resources a group holds
        return (f"Microsoft.Resources/subscriptions/resourceGroups{listed}/{verb}",
                "/".join(segments[:5 if len(template) > 4 else 3]))
    at = len(template) - 1 - template[::-1].index("providers")
    types, scope_end = [segments[at + 1]], at  # a list's scope is the group or subscription it lists in
    position = at + 2
    while position < len(template):
        types.append(segments[position])  # a type ({recordType} too), or a trailing verb or view
        if position + 1 < len(template):  # a name follows: the scope goes down to that resource
            scope_end = position + 2
        position += 2
    return "/".join(types) + f"/{verb}", "/".join(segments[:scope_end])


def _ids(*values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]


def _linked_private_endpoint(body: dict[str, Any]) -> list[tuple[str, str]]:
    properties = body.get("properties") or {}
    linked = [("Microsoft.Network/virtualNetworks/subnets/join/action", s)
              for s in _ids((properties.get("subnet") or {}).get("id"))]
    linked += [(APPROVAL, c.get("properties", {}).get("privateLinkServiceId", ""))
               for c in properties.get("privateLinkServiceConnections") or [] if c.get("properties")]
    return linked


def _linked_network_interface(body: dict[str, Any]) -> list[tuple[str, str]]:
    configurations = (body.get("properties") or {}).get("ipConfigurations") or []
    return [("Microsoft.Network/virtualNetworks/subnets/join/action", s) for c in configurations
            for s in _ids(((c.get("properties") or {}).get("subnet") or {}).get("id"))]


def _linked_virtual_network_link(body: dict[str, Any]) -> list[tuple[str, str]]:
    vnet = ((body.get("properties") or {}).get("virtualNetwork") or {}).get("id")
    return [("Microsoft.Network/virtualNetworks/join/action", v) for v in _ids(vnet)]


def _linked_peering(body: dict[str, Any]) -> list[tuple[str, str]]:
    remote = ((body.get("properties") or {}).get("remoteVirtualNetwork") or {}).get("id")
    return [("Microsoft.Network/virtualNetworks/peer/action", v) for v in _ids(remote)]


def _linked_zone_group(body: dict[str, Any]) -> list[tuple[str, str]]:
    configs = (body.get("properties") or {}).get("privateDnsZoneConfigs") or []
    return [("Microsoft.Network/privateDnsZones/join/action", z) for c in configs
            for z in _ids((c.get("properties") or {}).get("privateDnsZoneId"))]


def _linked_virtual_machine(body: dict[str, Any]) -> list[tuple[str, str]]:
    nics = ((body.get("properties") or {}).get("networkProfile") or {}).get("networkInterfaces") or []
    return [("Microsoft.Network/networkInterfaces/join/action", n) for nic in nics for n in _ids(nic.get("id"))]


def _linked_disk(body: dict[str, Any]) -> list[tuple[str, str]]:
    properties = body.get("properties") or {}
    creation = properties.get("creationData") or {}
    linked = []
    if str(creation.get("createOption", "")).lower() == "import":
        # Compute reads the blob with the account's keys, on the caller's authority.
        linked += [("Microsoft.Storage/storageAccounts/listKeys/action", a)
                   for a in _ids(creation.get("storageAccountId"))]
    des = (properties.get("encryption") or {}).get("diskEncryptionSetId")
    return linked + [("Microsoft.Compute/diskEncryptionSets/read", d) for d in _ids(des)]


_LINKED: dict[tuple[str, str], Callable[[dict[str, Any]], list[tuple[str, str]]]] = {
    ("PUT", "Microsoft.Network/privateEndpoints"): _linked_private_endpoint,
    ("PUT", "Microsoft.Network/networkInterfaces"): _linked_network_interface,
    ("PUT", "Microsoft.Network/privateDnsZones/virtualNetworkLinks"): _linked_virtual_network_link,
    ("PUT", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"): _linked_peering,
    ("PUT", "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"): _linked_zone_group,
    ("PUT", "Microsoft.Compute/virtualMachines"): _linked_virtual_machine,
    ("PUT", "Microsoft.Compute/disks"): _linked_disk,
}


@dataclass(frozen=True)
class Visible:
    """A list answered in part: which of its items the caller may read; a list of things that are not resources
    (SKUs, sizes) cannot be, and is refused whole."""

    allows: Callable[[str], bool]
    refusal: ArmError

    def filter(self, items: list[Any]) -> list[Any]:
        if not all(isinstance(item, dict) and item.get("id") for item in items):
            raise self.refusal
        return [item for item in items if self.allows(str(item["id"]))]


def authorize(simulator: Simulator, caller: Caller, route: Route, path: str, body: bytes) -> Visible | None:
    """Raises ARM's 403 when the caller may not make this request, or may not use what it links to. A list the
    caller may not read as a whole, but holds roles below, is answered with what it may read: the returned
    filter says which items. A subscription the tenant does not hold is not found, whoever asks, as ARM answers
    before any role is looked at."""
    segments = path.split("/")
    if len(segments) > 2 and segments[1].lower() == "subscriptions" and segments[2]:
        simulator.subscription_scope(segments[2])
    required = required_action(route, path)
    if required is None:
        return None
    action, scope = required
    rbac = AuthorizationBackend(simulator)
    if not rbac.allows(caller.object_id, action, scope):
        refusal = ArmError(403, "AuthorizationFailed",
                           f"The client '{caller.client_id}' with object id '{caller.object_id}' does not have "
                           f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
                           "invalid. If access was recently granted, please refresh your credentials.")
        listed = route.method == "GET" and path.rstrip("/").lower() != scope.lower()
        # Roles strictly below the list's scope: one at the scope itself already said no to the whole list.
        if listed and any(covers(scope, a["scope"]) and a["scope"].rstrip("/").lower() != scope.rstrip("/").lower()
                          for a in rbac.assignments(caller.object_id)):
            return Visible(lambda item_id: rbac.allows(caller.object_id, action, item_id), refusal)
        raise refusal
    linker = _LINKED.get((route.method, route.resource_type))
    try:
        parsed = json.loads(body) if linker and body else {}
    except ValueError:
        return None  # the provider refuses the body itself
    for linked_action, linked_scope in linker(parsed if isinstance(parsed, dict) else {}) if linker else ():
        if not _may_link(simulator, rbac, caller, linked_action, linked_scope):
            raise ArmError(403, "LinkedAuthorizationFailed",
                           f"The client '{caller.client_id}' with object id '{caller.object_id}' has permission to "
                           f"perform action '{action}' on scope '{scope}'; however, it does not have permission to "
                           f"perform action(s) '{linked_action}' on the linked scope(s) '{linked_scope}' "
                           "(respectively) or the linked scope(s) are invalid.")
    return None


def _may_link(simulator: Simulator, rbac: AuthorizationBackend, caller: Caller, action: str, scope: str) -> bool:
    if not rbac.allows(caller.object_id, action, scope):
        return False
    if action != APPROVAL:
        return True
    # An account can keep automatic approvals out (the spec's caller_may_approve, /_lab/approvals): a deny
    # assignment of the approval on that account, whatever the caller's roles say; its connections are then
    # approved by hand (privateEndpointConnections/write), which the deny leaves alone.
    storage = StorageBackend(simulator)
    account = storage.account_by_id(scope)
    return account is None or storage.caller_may_approve(account)
