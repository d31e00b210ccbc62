"""The lab tenant's second subscription: listed to whoever holds a role in it, its VNet peered with the hub
across subscriptions, and a disk in it imported from the appliance's cache account in the first."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from arm_clients import ARM_SCOPE, LOCATION, MIB, Arm, fixed_vhd, lab_credential, upload_page_blob
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import CreationData, Disk, DiskCreateOption, DiskSku, GrantAccessData
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import AddressSpace, SubResource, VirtualNetwork, VirtualNetworkPeering
from azure.mgmt.resource.subscriptions import SubscriptionClient

from vmshift.azure.endpoint import reaches
from vmshift.lab.azure_roles import azure_role_assignments, azure_roles_held

pytestmark = pytest.mark.lab

SPOKE_GROUP = "rg-spoke"


@pytest.fixture(scope="module")
def spoke(arm: Arm) -> str:
    """The second subscription's ID."""
    others = [s for s in arm.lab["arm"]["subscriptions"] if s != arm.subscription_id]
    assert len(others) == 1, arm.lab["arm"]["subscriptions"]
    return others[0]


def client(cls: type, lab: dict, credential: ClientSecretCredential, subscription_id: str | None = None):
    """A management client of the lab's ARM (SubscriptionClient takes no subscription)."""
    scoped = () if subscription_id is None else (subscription_id,)
    return cls(credential, *scoped, base_url=lab["arm"]["endpoint"], credential_scopes=[ARM_SCOPE],
               connection_verify=lab["ca_file"])


def in_subscription(arm: Arm, cls: type, subscription_id: str):
    return client(cls, arm.lab, arm.credential, subscription_id)


def test_a_subscription_is_listed_to_whoever_holds_a_role_in_it(arm: Arm, spoke: str, lab: dict) -> None:
    owner = client(SubscriptionClient, lab, arm.credential)
    assert {s.subscription_id for s in owner.subscriptions.list()} == {arm.subscription_id, spoke}
    assert owner.subscriptions.get(spoke).display_name == "vmshift lab spoke"

    vmshift = client(SubscriptionClient, lab, lab_credential(lab))
    assert {s.subscription_id for s in vmshift.subscriptions.list()} == {arm.subscription_id, spoke}
    first_only = [a for a in azure_role_assignments(lab) if spoke not in a["scope"]]
    with azure_roles_held(lab, first_only):
        assert [s.subscription_id for s in vmshift.subscriptions.list()] == [arm.subscription_id]
        with pytest.raises(ResourceNotFoundError) as hidden:
            vmshift.subscriptions.get(spoke)
        assert hidden.value.error.code == "SubscriptionNotFound"
        network = client(NetworkManagementClient, lab, lab_credential(lab), spoke)
        with pytest.raises(HttpResponseError) as refused:
            network.virtual_networks.get(SPOKE_GROUP, "vnet-spoke")
        assert refused.value.status_code == 403 and refused.value.error.code == "AuthorizationFailed"
        assert f"/subscriptions/{spoke}/resourceGroups/{SPOKE_GROUP}" in refused.value.message
    # A subscription the tenant does not hold is not found, before any role is looked at.
    with pytest.raises(ResourceNotFoundError) as unknown:
        client(NetworkManagementClient, lab, lab_credential(lab), "99999999-9999-4999-8999-999999999999"
               ).virtual_networks.get(SPOKE_GROUP, "vnet-spoke")
    assert unknown.value.error.code == "SubscriptionNotFound"


def test_the_spoke_vnet_is_peered_with_the_hub_both_ways(arm: Arm, spoke: str) -> None:
    hub = arm.network.virtual_networks.get("rg-hub", "vnet-hub")
    spoke_vnet = in_subscription(arm, NetworkManagementClient, spoke).virtual_networks.get(SPOKE_GROUP, "vnet-spoke")

    assert reaches(hub, spoke_vnet.id)
    assert reaches(spoke_vnet, hub.id)
    assert spoke_vnet.id.startswith(f"/subscriptions/{spoke}/")


def test_a_peering_is_initiated_until_the_remote_vnet_peers_back_and_disconnected_when_it_goes(
    arm: Arm, spoke: str, group: str, unique: Callable[[str], str]
) -> None:
    there = in_subscription(arm, NetworkManagementClient, spoke)
    local = arm.network.virtual_networks.begin_create_or_update(group, unique("vnet-"), VirtualNetwork(
        location=LOCATION, address_space=AddressSpace(address_prefixes=["10.61.0.0/16"]))).result()
    remote = there.virtual_networks.begin_create_or_update(SPOKE_GROUP, unique("vnet-peer-"), VirtualNetwork(
        location="northeurope", address_space=AddressSpace(address_prefixes=["10.62.0.0/16"]))).result()
    remote_group, remote_name = SPOKE_GROUP, remote.name
    try:
        out = arm.network.virtual_network_peerings.begin_create_or_update(
            group, local.name, "to-remote", VirtualNetworkPeering(
                remote_virtual_network=SubResource(id=remote.id), allow_virtual_network_access=True)).result()
        assert (out.peering_state, out.remote_address_space.address_prefixes) == ("Initiated", ["10.62.0.0/16"])
        assert not reaches(arm.network.virtual_networks.get(group, local.name), remote.id)

        back = there.virtual_network_peerings.begin_create_or_update(
            remote_group, remote_name, "to-local", VirtualNetworkPeering(
                remote_virtual_network=SubResource(id=local.id))).result()
        assert back.peering_state == "Connected"
        assert arm.network.virtual_network_peerings.get(group, local.name, "to-remote").peering_state == "Connected"
        assert reaches(arm.network.virtual_networks.get(group, local.name), remote.id)
        assert [p.name for p in there.virtual_network_peerings.list(remote_group, remote_name)] == ["to-local"]

        there.virtual_network_peerings.begin_delete(remote_group, remote_name, "to-local").result()
        assert arm.network.virtual_network_peerings.get(group, local.name, "to-remote").peering_state == \
            "Disconnected"
    finally:
        arm.network.virtual_network_peerings.begin_delete(group, local.name, "to-remote").result()
        there.virtual_networks.begin_delete(remote_group, remote_name).result()


def test_a_peering_to_an_overlapping_or_missing_vnet_is_refused(
    arm: Arm, spoke: str, group: str, unique: Callable[[str], str]
) -> None:
    local = arm.network.virtual_networks.begin_create_or_update(group, unique("vnet-"), VirtualNetwork(
        location=LOCATION, address_space=AddressSpace(address_prefixes=["10.40.128.0/17"]))).result()
    spoke_vnet = f"/subscriptions/{spoke}/resourceGroups/{SPOKE_GROUP}/providers/Microsoft.Network/" \
                 "virtualNetworks/vnet-spoke"
    for remote, code in ((spoke_vnet, "VnetAddressSpacesOverlap"), (spoke_vnet + "-gone", "InvalidResourceReference")):
        with pytest.raises(HttpResponseError) as refused:
            arm.network.virtual_network_peerings.begin_create_or_update(
                group, local.name, "bad", VirtualNetworkPeering(remote_virtual_network=SubResource(id=remote)))
        assert refused.value.error.code == code
    assert list(arm.network.virtual_network_peerings.list(group, local.name)) == []


def test_a_disk_in_the_second_subscription_imports_the_cache_accounts_blob_from_the_first(
    arm: Arm, spoke: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    data = os.urandom(MIB) + bytes(MIB)
    blob = fixed_vhd(tmp_path, data)
    source_uri = upload_page_blob(arm, unique("cross-") + ".vhd", blob)
    account = arm.storage.storage_accounts.get_properties("rg-migration", "vmshiftcache01").id
    compute = in_subscription(arm, ComputeManagementClient, spoke)
    name = unique("disk-cross-")
    poller = compute.disks.begin_create_or_update(SPOKE_GROUP, name, Disk(
        location=LOCATION, sku=DiskSku(name="StandardSSD_LRS"),
        creation_data=CreationData(create_option=DiskCreateOption.IMPORT, source_uri=source_uri,
                                   storage_account_id=account)))
    # The operation ARM names to poll is in the disk's subscription.
    assert f"/subscriptions/{spoke}/providers/Microsoft.Compute/locations/" in \
        poller.polling_method()._initial_response.http_response.headers["Location"]
    disk = poller.result()
    try:
        assert disk.id.startswith(f"/subscriptions/{spoke}/resourceGroups/{SPOKE_GROUP}/")
        access = compute.disks.begin_grant_access(SPOKE_GROUP, name, GrantAccessData(
            access="Read", duration_in_seconds=600)).result()
        assert requests.get(access.access_sas, verify=arm.lab["ca_file"], timeout=30).content == blob
        compute.disks.begin_revoke_access(SPOKE_GROUP, name).result()
    finally:
        compute.disks.begin_delete(SPOKE_GROUP, name).result()
