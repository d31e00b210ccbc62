"""The Azure check evaluates the permissions API's answer as ARM evaluates a request, and lists every missing action
of a step at once. The permissions API is stubbed here (one function under test); against the lab's ARM the
same check runs end to end."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from azure.mgmt.authorization.v2022_04_01.models import Permission

from vmshift.azure.errors import PermissionsMissing
from vmshift.azure.permissions import (
    OPERATOR_ROLE,
    REQUIRED_ACTIONS,
    SUBSCRIPTION_ROLE,
    Grant,
    Scope,
    action_matches,
    allows,
    check_permissions,
    missing_actions,
    role_actions,
    scope_grants,
)
from vmshift.steps import MigrationStep

SUB = "/subscriptions/00000000-1111-4222-8333-444444444444"
CACHE_RG = f"{SUB}/resourceGroups/rg-migration"
HUB_VNET = f"{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
DNS_RG = f"{SUB}/resourceGroups/rg-hub"
TARGET_RG = f"{SUB}/resourceGroups/rg-target"
TARGET_VNET = f"{SUB}/resourceGroups/rg-target/providers/Microsoft.Network/virtualNetworks/vnet-target"
ALL_SCOPES = {Scope.SUBSCRIPTION: [SUB], Scope.CACHE_RESOURCE_GROUP: [CACHE_RG], Scope.HUB_VNET: [HUB_VNET],
              Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP: [DNS_RG], Scope.TARGET_RESOURCE_GROUP: [TARGET_RG],
              Scope.TARGET_VNET: [TARGET_VNET]}
# The built-in roles' permissions, as Microsoft's built-in roles page lists them.
READER = [{"actions": ["*/read"], "notActions": []}]
CONTRIBUTOR = [{"actions": ["*"], "notActions": [
    "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete",
    "Microsoft.Compute/galleries/share/action", "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete",
    "Microsoft.Resources/deploymentStacks/manageDenySetting/action", "Microsoft.Subscription/cancel/action",
    "Microsoft.Subscription/enable/action"]}]


@dataclass
class PermissionsApi:
    """What the permissions API answers at each scope: role permissions as ARM lists them (one entry per
    assignment reaching the scope)."""

    at: dict[str, list[dict]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def entries(self, scope: str) -> list[dict]:
        self.asked.append(scope)
        return self.at.get(scope.lower(), [])

    def list_for_resource_group(self, resource_group: str) -> list[Permission]:
        return [_model(e) for e in self.entries(f"{SUB}/resourceGroups/{resource_group}")]

    def list_for_resource(self, resource_group: str, namespace: str, parent: str, kind: str,
                          name: str) -> list[Permission]:
        path = f"{SUB}/resourceGroups/{resource_group}/providers/{namespace}/{parent + '/' if parent else ''}{kind}"
        return [_model(e) for e in self.entries(f"{path}/{name}")]

    def _send_request(self, request: object) -> SimpleNamespace:
        scope = request.url.split("/providers/Microsoft.Authorization/permissions")[0]
        return SimpleNamespace(status_code=200, json=lambda: {"value": self.entries(scope)})


def _model(entry: dict) -> Permission:
    return Permission(actions=entry["actions"], not_actions=entry.get("notActions", []))


def clients_with(api: PermissionsApi) -> SimpleNamespace:
    api.permissions = api
    clients = SimpleNamespace(authorization=api)
    clients.for_subscription = lambda subscription_id: clients  # one subscription here
    return clients


def everywhere(entries: list[dict]) -> PermissionsApi:
    return PermissionsApi({scope.lower(): entries for ids in ALL_SCOPES.values() for scope in ids})


def documented_roles() -> PermissionsApi:
    api = everywhere([{"actions": role_actions(OPERATOR_ROLE), "notActions": []}])
    api.at[SUB.lower()] = [{"actions": role_actions(SUBSCRIPTION_ROLE), "notActions": []}]
    return api


@pytest.mark.parametrize(("pattern", "action", "matches"), [
    ("*", "Microsoft.Compute/disks/write", True),
    ("*/read", "Microsoft.Network/privateDnsZones/virtualNetworkLinks/read", True),
    ("*/read", "Microsoft.Compute/disks/write", False),
    ("Microsoft.Network/*/read", "Microsoft.Network/virtualNetworks/subnets/read", True),
    ("microsoft.compute/DISKS/Write", "Microsoft.Compute/disks/write", True),
    ("Microsoft.Compute/disks/*", "Microsoft.Compute/disks/beginGetAccess/action", True),
    ("Microsoft.Compute/disks/*", "Microsoft.Compute/diskEncryptionSets/read", False),
    ("Microsoft.Storage/storageAccounts/*/read", "Microsoft.Storage/storageAccounts/read", False),
    ("Microsoft.Storage/storageAccounts/*/read", "Microsoft.Storage/storageAccounts/blobServices/read", True),
    ("Microsoft.Compute/disks/read", "Microsoft.Compute/disks/readx", False),
])
def test_wildcards_match_as_arm_matches_them(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


def test_not_actions_take_away_from_their_own_role_only() -> None:
    contributor = Grant(("*",), ("Microsoft.Authorization/*/Write",))
    assert not allows([contributor], "Microsoft.Authorization/roleAssignments/write")
    assert allows([contributor], "Microsoft.Compute/disks/write")
    assert allows([contributor, Grant(("Microsoft.Authorization/roleAssignments/write",))],
                  "Microsoft.Authorization/roleAssignments/write")


def test_the_documented_roles_pass_every_phase() -> None:
    for step in MigrationStep:
        assert missing_actions(clients_with(documented_roles()), step, ALL_SCOPES,
                               {"availability set", "disk encryption set"}) == []


def test_contributor_on_every_scope_passes_every_phase() -> None:
    for step in MigrationStep:
        assert missing_actions(clients_with(everywhere(CONTRIBUTOR)), step, ALL_SCOPES) == []


def test_a_reader_is_refused_the_cutover_with_every_missing_action_at_once_and_the_role_that_grants_it() -> None:
    with pytest.raises(PermissionsMissing) as refused:
        check_permissions(clients_with(everywhere(READER)), MigrationStep.CUTOVER, ALL_SCOPES)
    missing = {(m.action, m.scope_id) for m in refused.value.missing}
    writes = {(r.action, ALL_SCOPES[r.scope][0]) for r in REQUIRED_ACTIONS
              if MigrationStep.CUTOVER in r.steps and r.only_when is None and not r.action.endswith("/read")}
    assert missing == writes
    message = str(refused.value)
    assert f"Microsoft.Compute/disks/write at {TARGET_RG} (target resource group)" in message
    assert f"Microsoft.Network/virtualNetworks/subnets/join/action at {TARGET_VNET} (target VNet)" in message
    assert OPERATOR_ROLE.name in message and OPERATOR_ROLE.file in message and "nothing was created" in message


def test_a_missing_assignment_at_one_scope_is_named_with_that_scope_and_its_role() -> None:
    api = documented_roles()
    del api.at[SUB.lower()]
    missing = missing_actions(clients_with(api), MigrationStep.DISCOVERY, ALL_SCOPES)
    assert [(m.action, m.scope_id, m.role) for m in missing] == [
        ("Microsoft.Compute/skus/read", SUB, SUBSCRIPTION_ROLE)]


def test_an_action_the_plan_does_not_call_for_is_not_asked_for() -> None:
    api = documented_roles()
    operator = [a for a in role_actions(OPERATOR_ROLE) if a != "Microsoft.Compute/availabilitySets/read"]
    api.at[TARGET_RG.lower()] = [{"actions": operator}]
    assert missing_actions(clients_with(api), MigrationStep.CUTOVER, ALL_SCOPES) == []
    missing = missing_actions(clients_with(api), MigrationStep.CUTOVER, ALL_SCOPES, {"availability set"})
    assert [(m.action, m.scope_id) for m in missing] == [("Microsoft.Compute/availabilitySets/read", TARGET_RG)]


def test_each_scope_is_read_from_the_permissions_api_of_its_kind() -> None:
    api = PermissionsApi({SUB.lower(): READER, DNS_RG.lower(): CONTRIBUTOR, HUB_VNET.lower(): READER})
    clients = clients_with(api)
    assert scope_grants(clients, SUB) == [Grant(("*/read",))]
    assert scope_grants(clients, DNS_RG)[0].actions == ("*",)
    assert scope_grants(clients, HUB_VNET) == [Grant(("*/read",))]
    assert scope_grants(clients, TARGET_RG) == []
    assert api.asked == [SUB, DNS_RG, HUB_VNET, TARGET_RG]
