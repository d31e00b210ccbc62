"""The lab's ARM enforces role-based access as ARM does: vmshift's app may do what its role assignments allow at
the scope of each call, and nothing more; a refusal is ARM's 403 naming the client, the action and the scope,
and nothing is created. The permissions API answers from the same assignments, and vmshift's own check reads it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from arm_clients import ARM_SCOPE, CACHE_ACCOUNT, Arm, blob_endpoint, lab_credential, management_client
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.authorization.v2022_04_01 import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

from vmshift.azure.clients import connect
from vmshift.azure.errors import PermissionsMissing
from vmshift.azure.permissions import REQUIRED_ACTIONS, Scope, check_permissions, missing_actions
from vmshift.lab.arm.identity import object_id
from vmshift.lab.azure_roles import azure_role_assignments, azure_roles_held
from vmshift.steps import MigrationStep

pytestmark = pytest.mark.lab

DISK = {"location": "westeurope", "sku": {"name": "Standard_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}
ZONE = "rbac.lab.internal"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"  # the built-in Reader's role definition name
ASSIGNMENT = "5e1ab000-0000-4000-8000-00000000a551"


def authorization_client(lab: dict, credential: ClientSecretCredential) -> AuthorizationManagementClient:
    return AuthorizationManagementClient(credential, lab["arm"]["subscription_id"], base_url=lab["arm"]["endpoint"],
                                         connection_verify=lab["ca_file"], credential_scopes=[ARM_SCOPE])


@pytest.fixture(scope="module")
def vmshift_arm(lab: dict) -> Arm:
    """Management clients signed in as vmshift's own app, whose roles these tests change."""
    credential = lab_credential(lab)
    return Arm(lab, credential, **{name: management_client(cls, lab, credential) for name, cls in (
        ("resources", ResourceManagementClient), ("network", NetworkManagementClient),
        ("private_dns", PrivateDnsManagementClient), ("storage", StorageManagementClient),
        ("compute", ComputeManagementClient))})


@pytest.fixture(scope="module")
def scopes(lab: dict) -> dict[Scope, list[str]]:
    """The lab's scopes of docs/permissions.md, as the appliance and a plan name them."""
    sub = f"/subscriptions/{lab['arm']['subscription_id']}"
    network = f"{sub}/resourceGroups/rg-target/providers/Microsoft.Network/virtualNetworks"
    return {Scope.SUBSCRIPTION: [sub], Scope.CACHE_RESOURCE_GROUP: [f"{sub}/resourceGroups/rg-migration"],
            Scope.HUB_VNET: [f"{sub}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"],
            Scope.PRIVATE_DNS_ZONE_RESOURCE_GROUP: [f"{sub}/resourceGroups/rg-hub"],
            Scope.TARGET_RESOURCE_GROUP: [f"{sub}/resourceGroups/rg-target"],
            Scope.TARGET_VNET: [f"{network}/vnet-target", f"{network}/vnet-test"]}


@pytest.fixture
def nothing_left(arm: Arm) -> Iterator[None]:
    """What a refused call might have created, deleted by the owner afterwards (and asserted absent by tests)."""
    yield
    with contextlib.suppress(ResourceNotFoundError):
        arm.compute.disks.begin_delete("rg-target", "rbac-disk").result()
    for group in ("rg-hub", "rg-target"):
        with contextlib.suppress(ResourceNotFoundError):
            arm.network.network_interfaces.begin_delete(group, "rbac-nic").result()
    with contextlib.suppress(ResourceNotFoundError):
        arm.network.private_endpoints.begin_delete("rg-migration", "rbac-endpoint").result()
    with contextlib.suppress(ResourceNotFoundError):
        arm.private_dns.private_zones.begin_delete("rg-hub", ZONE).result()


def test_a_call_without_its_action_is_refused_naming_client_object_id_action_and_scope_and_creates_nothing(
    lab: dict, arm: Arm, vmshift_arm: Arm, nothing_left: None
) -> None:
    with azure_roles_held(lab, [{"role": "Reader", "scope": "resourceGroups/rg-target"}]):
        list(vmshift_arm.compute.disks.list_by_resource_group("rg-target"))  # a reader reads
        with pytest.raises(HttpResponseError) as refused:
            vmshift_arm.compute.disks.begin_create_or_update("rg-target", "rbac-disk", DISK).result()

    client = lab["arm"]["client_id"]
    scope = f"/subscriptions/{lab['arm']['subscription_id']}/resourceGroups/rg-target/providers/Microsoft.Compute/" \
            "disks/rbac-disk"
    assert refused.value.status_code == 403 and refused.value.error.code == "AuthorizationFailed"
    assert refused.value.error.message == (
        f"The client '{client}' with object id '{object_id(client)}' does not have authorization to perform action "
        f"'Microsoft.Compute/disks/write' over scope '{scope}' or the scope is invalid. If access was recently "
        "granted, please refresh your credentials.")
    assert object_id(client) != client  # an app's object id is its service principal's, not its client id
    with pytest.raises(ResourceNotFoundError):
        arm.compute.disks.get("rg-target", "rbac-disk")


def test_an_assignment_reaches_its_scope_and_what_lies_below_and_nothing_else(lab: dict, vmshift_arm: Arm) -> None:
    hub = "resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
    with azure_roles_held(lab, [{"role": "Network Contributor", "scope": hub}]):
        assert {s.name for s in vmshift_arm.network.subnets.list("rg-hub", "vnet-hub")} >= {"snet-endpoints"}
        with pytest.raises(HttpResponseError) as refused:
            vmshift_arm.network.virtual_networks.get("rg-target", "vnet-target")
        # A list over a group answers what the caller may read in it; a group it holds nothing in is refused.
        assert [v.name for v in vmshift_arm.network.virtual_networks.list("rg-hub")] == ["vnet-hub"]
        with pytest.raises(HttpResponseError, match="AuthorizationFailed"):
            list(vmshift_arm.network.virtual_networks.list("rg-target"))
    assert "'Microsoft.Network/virtualNetworks/read' over scope" in refused.value.error.message
    with azure_roles_held(lab, [{"role": "Reader", "scope": ""}]):
        assert vmshift_arm.network.virtual_networks.get("rg-target", "vnet-target").name == "vnet-target"


def test_not_actions_take_away_from_their_own_role_and_another_role_may_grant_the_action(
    lab: dict, arm: Arm, vmshift_arm: Arm, nothing_left: None
) -> None:
    no_nics = {"Name": "lab network without NICs", "Actions": ["Microsoft.Network/*"],
               "NotActions": ["Microsoft.Network/networkInterfaces/write"]}
    subnet = arm.network.subnets.get("rg-hub", "vnet-hub", "snet-appliance").id
    nic = {"location": "westeurope", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic"}}]}}
    mine = {"role": no_nics["Name"], "scope": "resourceGroups/rg-hub"}
    with azure_roles_held(lab, [mine], roles=[no_nics]):
        with pytest.raises(HttpResponseError) as refused:
            vmshift_arm.network.network_interfaces.begin_create_or_update("rg-hub", "rbac-nic", nic).result()
        assert vmshift_arm.network.virtual_networks.get("rg-hub", "vnet-hub").name == "vnet-hub"
    assert "'Microsoft.Network/networkInterfaces/write'" in refused.value.error.message
    with azure_roles_held(lab, [mine, {"role": "Network Contributor", "scope": "resourceGroups/rg-hub"}]):
        assert vmshift_arm.network.network_interfaces.begin_create_or_update("rg-hub", "rbac-nic", nic).result()


def test_listing_a_groups_resources_needs_their_own_read_action_not_the_groups(lab: dict, vmshift_arm: Arm) -> None:
    groups_only = {"Name": "rbac groups only", "Actions": ["Microsoft.Resources/subscriptions/resourceGroups/read"]}
    with azure_roles_held(lab, [{"role": groups_only["Name"], "scope": ""}], roles=[groups_only]):
        assert vmshift_arm.resources.resource_groups.get("rg-target").name == "rg-target"
        with pytest.raises(HttpResponseError) as refused:
            list(vmshift_arm.resources.resources.list_by_resource_group("rg-target"))
    assert refused.value.status_code == 403
    # Held at the group itself, not below it: the list is refused whole, not answered empty.
    with azure_roles_held(lab, [{"role": groups_only["Name"], "scope": "resourceGroups/rg-target"}],
                          roles=[groups_only]), pytest.raises(HttpResponseError, match="AuthorizationFailed"):
        list(vmshift_arm.resources.resources.list_by_resource_group("rg-target"))
    assert "'Microsoft.Resources/subscriptions/resourceGroups/resources/read' over scope " \
        f"'/subscriptions/{lab['arm']['subscription_id']}/resourcegroups/rg-target'" in refused.value.error.message
    with azure_roles_held(lab, [{"role": "Reader", "scope": ""}]):
        assert list(vmshift_arm.resources.resources.list_by_resource_group("rg-target"))


def test_a_resource_the_request_names_needs_its_linked_action_there(
    lab: dict, arm: Arm, vmshift_arm: Arm, nothing_left: None
) -> None:
    """Virtual Machine Contributor on the target group may make NICs there, but not join another group's subnet."""
    subnet = arm.network.subnets.get("rg-hub", "vnet-hub", "snet-appliance").id
    nic = {"location": "westeurope", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Dynamic"}}]}}
    target = [{"role": "Virtual Machine Contributor", "scope": "resourceGroups/rg-target"}]
    with azure_roles_held(lab, target), pytest.raises(HttpResponseError) as refused:
        vmshift_arm.network.network_interfaces.begin_create_or_update("rg-target", "rbac-nic", nic).result()
    assert refused.value.status_code == 403 and refused.value.error.code == "LinkedAuthorizationFailed"
    assert "has permission to perform action 'Microsoft.Network/networkInterfaces/write'" in refused.value.error.message
    assert f"'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '{subnet}'" \
        in refused.value.error.message
    with pytest.raises(ResourceNotFoundError):
        arm.network.network_interfaces.get("rg-target", "rbac-nic")


def _write_disk(arm: Arm) -> None:
    arm.compute.disks.begin_create_or_update("rg-target", "rbac-disk", DISK).result()


def _list_keys(arm: Arm) -> None:
    assert arm.storage.storage_accounts.list_keys("rg-migration", CACHE_ACCOUNT).keys


def _write_private_dns_zone(arm: Arm) -> None:
    assert arm.private_dns.private_zones.begin_create_or_update("rg-hub", ZONE, {"location": "global"}).result()


def _write_private_endpoint(arm: Arm) -> None:
    subnet = f"{arm.scope('rg-hub')}/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-endpoints"
    account = f"{arm.scope('rg-migration')}/providers/Microsoft.Storage/storageAccounts/{CACHE_ACCOUNT}"
    blob_endpoint(arm, "rg-migration", "rbac-endpoint", subnet, account)


def _assign_reader(arm: Arm) -> None:
    """What a Contributor may not do: give a role (here Reader on the target group, to the caller itself)."""
    authorization_client(arm.lab, arm.credential).role_assignments.create(
        arm.scope("rg-target"), ASSIGNMENT, RoleAssignmentCreateParameters(
            role_definition_id=f"/subscriptions/{arm.subscription_id}/providers/Microsoft.Authorization/"
                               f"roleDefinitions/{READER}", principal_id=object_id(arm.lab["arm"]["client_id"]),
            principal_type="ServicePrincipal"))


@pytest.mark.parametrize(("role", "allowed", "refused", "action", "scope"), [
    ("Contributor", _write_disk, _assign_reader, "Microsoft.Authorization/roleAssignments/write",
     f"resourceGroups/rg-target/providers/Microsoft.Authorization/roleAssignments/{ASSIGNMENT}"),
    ("Storage Account Contributor", _list_keys, _write_disk, "Microsoft.Compute/disks/write",
     "resourceGroups/rg-target/providers/Microsoft.Compute/disks/rbac-disk"),
    ("Private DNS Zone Contributor", _write_private_dns_zone, _write_private_endpoint,
     "Microsoft.Network/privateEndpoints/write",
     "resourceGroups/rg-migration/providers/Microsoft.Network/privateEndpoints/rbac-endpoint"),
], ids=["contributor", "storage-account-contributor", "private-dns-zone-contributor"])
def test_a_built_in_role_at_the_subscription_allows_its_actions_and_refuses_what_it_leaves_out(
    lab: dict, arm: Arm, vmshift_arm: Arm, nothing_left: None, role: str, allowed: Callable[[Arm], None],
    refused: Callable[[Arm], None], action: str, scope: str,
) -> None:
    """Held at the subscription, so that a refusal is the role's own: Contributor's notActions keep the
    Microsoft.Authorization writes out of its '*'."""
    with azure_roles_held(lab, [{"role": role, "scope": ""}]):
        allowed(vmshift_arm)
        with pytest.raises(HttpResponseError) as refusal:
            refused(vmshift_arm)
        held = azure_role_assignments(lab)

    assert refusal.value.status_code == 403 and refusal.value.error.code == "AuthorizationFailed"
    assert f"perform action '{action}' over scope '/subscriptions/{lab['arm']['subscription_id']}/{scope}' or " \
        in refusal.value.error.message
    assert held == [{"role": role, "scope": f"/subscriptions/{lab['arm']['subscription_id']}"}]


def test_an_owner_assigns_a_role_through_arm_and_the_app_holds_it_until_it_is_deleted(
    lab: dict, arm: Arm, vmshift_arm: Arm
) -> None:
    owner = authorization_client(lab, arm.credential).role_assignments
    reader = f"/subscriptions/{arm.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
    app = object_id(lab["arm"]["client_id"])
    with azure_roles_held(lab, []):
        with pytest.raises(HttpResponseError) as mistyped:  # the SDK's default principal type is User
            owner.create(arm.scope("rg-target"), ASSIGNMENT, RoleAssignmentCreateParameters(
                role_definition_id=reader, principal_id=app))
        with pytest.raises(HttpResponseError) as nowhere:  # a scope that does not exist takes no assignment
            owner.create(f"/subscriptions/{arm.subscription_id}/resourceGroups/rg-absent", ASSIGNMENT,
                         RoleAssignmentCreateParameters(role_definition_id=reader, principal_id=app,
                                                        principal_type="ServicePrincipal"))
        made = owner.create(arm.scope("rg-target"), ASSIGNMENT, RoleAssignmentCreateParameters(
            role_definition_id=reader, principal_id=app, principal_type="ServicePrincipal"))
        held = azure_role_assignments(lab)
        list(vmshift_arm.compute.disks.list_by_resource_group("rg-target"))
        owner.delete(arm.scope("rg-target"), ASSIGNMENT)
        with pytest.raises(HttpResponseError, match="AuthorizationFailed"):
            list(vmshift_arm.compute.disks.list_by_resource_group("rg-target"))

    assert mistyped.value.status_code == 400 and mistyped.value.error.code == "UnmatchedPrincipalType"
    assert (nowhere.value.status_code, nowhere.value.error.code) == (404, "ResourceGroupNotFound")
    assert (made.name, made.scope, made.role_definition_id, made.principal_type) == (
        ASSIGNMENT, arm.scope("rg-target"), reader, "ServicePrincipal")
    assert held == [{"role": "Reader", "scope": arm.scope("rg-target")}]


def test_the_permissions_api_answers_the_roles_of_each_scope_as_the_sdk_asks_it(lab: dict) -> None:
    client = authorization_client(lab, lab_credential(lab))
    hub = "resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
    with azure_roles_held(lab, [{"role": "Reader", "scope": ""}, {"role": "Network Contributor", "scope": hub}]):
        group = [p.actions for p in client.permissions.list_for_resource_group("rg-hub")]
        vnet = [p.actions for p in client.permissions.list_for_resource(
            "rg-hub", "Microsoft.Network", "", "virtualNetworks", "vnet-hub")]
    assert group == [["*/read"]]
    assert sorted(map(tuple, vnet)) == sorted([("*/read",), tuple(_actions("Network Contributor"))])


def _actions(role: str) -> list[str]:
    from vmshift.lab.arm.authorization.models import builtin_roles
    return next(r for r in builtin_roles() if r["roleName"] == role)["permissions"][0]["actions"]


def test_the_documented_roles_pass_vmshifts_check_for_every_phase(lab: dict, scopes: dict) -> None:
    assert {a["role"] for a in azure_role_assignments(lab)} == {"vmshift Migration Operator",
                                                                 "vmshift Subscription Reader"}
    clients = connect()
    for step in MigrationStep:
        assert missing_actions(clients, step, scopes, {"availability set", "disk encryption set"}) == []


def test_a_reader_is_refused_every_action_of_the_cutover_that_is_not_a_read_at_once(lab: dict, scopes: dict) -> None:
    with azure_roles_held(lab, [{"role": "Reader", "scope": ""}]), pytest.raises(PermissionsMissing) as refused:
        check_permissions(connect(), MigrationStep.CUTOVER, scopes)
    expected = {(r.action, scope) for r in REQUIRED_ACTIONS if MigrationStep.CUTOVER in r.steps and r.only_when is None
                and not r.action.endswith("/read") for scope in scopes[r.scope]}
    assert {(m.action, m.scope_id) for m in refused.value.missing} == expected
    assert lab["arm"]["client_id"] in str(refused.value)
