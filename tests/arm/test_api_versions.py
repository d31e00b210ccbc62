"""Every published api-version of a resource type is served, in that version's shape; anything else is refused
with ARM's own error body, which a client prints as Azure's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from arm_clients import LOCATION, Arm, blob_endpoint, create_account, management_client
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.models import CreationData, Disk, DiskCreateOption, DiskSku
from azure.mgmt.privatedns import PrivateDnsManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from raw_arm import arm_get

from vmshift.lab.arm import api_versions

pytestmark = pytest.mark.lab

LAB_REGIONS = "westeurope, northeurope, eastus, northcentralus"


def empty_disk(arm: Arm, group: str, name: str) -> Disk:
    return arm.compute.disks.begin_create_or_update(group, name, Disk(
        location=LOCATION, sku=DiskSku(name="Standard_LRS"),
        creation_data=CreationData(create_option=DiskCreateOption.EMPTY), disk_size_gb=1)).result()


def test_an_unpublished_version_of_a_provider_type_gets_no_registered_provider_found(arm: Arm) -> None:
    response = arm_get(arm, f"{arm.scope('rg-hub')}/providers/Microsoft.Network/virtualNetworks/vnet-hub"
                            "/subnets/snet-endpoints?api-version=2099-01-01")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "NoRegisteredProviderFound", "message": (
        "No registered resource provider found for location 'westeurope' and API version '2099-01-01' for type "
        f"'virtualNetworks/subnets'. The supported api-versions are '{', '.join(api_versions.NETWORK)}'. "
        f"The supported locations are '{LAB_REGIONS}'.")}}


def test_a_refused_version_is_printed_by_the_sdk_as_azures(arm: Arm, group: str,
                                                           unique: Callable[[str], str]) -> None:
    name = unique("disk-version-")
    empty_disk(arm, group, name)
    with pytest.raises(HttpResponseError) as refused:
        arm.compute.disks.get(group, name, api_version="2024-07-01")  # a CRP version, never DiskRP's

    assert refused.value.status_code == 400
    assert refused.value.error.code == "NoRegisteredProviderFound"
    assert "(NoRegisteredProviderFound) No registered resource provider found for location 'westeurope' and API " \
           "version '2024-07-01' for type 'disks'. The supported api-versions are '2016-04-30-preview, " \
           "2017-03-30," in str(refused.value)


def test_an_unpublished_version_of_arms_own_types_gets_invalid_api_version_parameter(arm: Arm) -> None:
    resources = management_client(ResourceManagementClient, arm.lab, arm.credential, api_version="2024-02-30")
    with pytest.raises(HttpResponseError) as refused:
        resources.resource_groups.get("rg-hub")

    assert refused.value.error.code == "InvalidApiVersionParameter"
    assert refused.value.error.message == (
        "The api-version '2024-02-30' is invalid. The supported versions are "
        f"'{', '.join(reversed(api_versions.ARM))}'.")
    assert refused.value.error.message.startswith("The api-version '2024-02-30' is invalid. The supported "
                                                  "versions are '2025-04-01, 2025-03-01, 2024-11-01,")


def test_a_type_is_refused_in_the_versions_before_it_existed(arm: Arm, group: str) -> None:
    # Private endpoints came with Microsoft.Network 2019-04-01: the virtual networks of 2018 are served.
    assert arm_get(arm, f"{arm.scope('rg-hub')}/providers/Microsoft.Network/virtualNetworks/vnet-hub"
                        "?api-version=2018-08-01").status_code == 200
    response = arm_get(arm, f"{arm.scope(group)}/providers/Microsoft.Network/privateEndpoints"
                            "?api-version=2018-08-01")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "for type 'privateEndpoints'. The supported api-versions are '2019-04-01, 2019-06-01," in \
        response.json()["error"]["message"]


def test_the_versions_the_azure_cli_and_the_js_sdk_send_are_served(arm: Arm, group: str,
                                                                 unique: Callable[[str], str]) -> None:
    disk = unique("disk-cli-")
    empty_disk(arm, group, disk)
    zone = arm.private_dns.private_zones.begin_create_or_update(
        group, f"{unique('zone')}.example.internal", {"location": "global"}).result()

    assert arm.compute.disks.get(group, disk, api_version="2025-01-02").name == disk
    old_resources = management_client(ResourceManagementClient, arm.lab, arm.credential, api_version="2024-11-01")
    assert old_resources.resource_groups.get(group).name == group
    for version in ("2018-09-01", "2020-06-01"):  # azure-mgmt-privatedns takes the api-version per client
        private_dns = management_client(PrivateDnsManagementClient, arm.lab, arm.credential, api_version=version)
        assert private_dns.private_zones.get(group, zone.name).name == zone.name
    for version in ("2022-01-01", "2026-01-01"):
        assert arm.network.virtual_networks.get("rg-hub", "vnet-hub", api_version=version).name == "vnet-hub"


def test_the_newest_published_versions_of_each_provider_are_served(arm: Arm, group: str,
                                                                   unique: Callable[[str], str]) -> None:
    # Published after the table was first written, each missing from it then: ARM's 2024-08-01 and previews
    # (ansible-collections/azure#1930), ComputeRP 2026-03-01, Storage 2026-06-01 (azure-mgmt-storage 25.3 takes it).
    account_id = create_account(arm, group, unique("stnew"))
    for version in ("2024-06-01-preview", "2024-08-01", "2024-10-01-preview"):
        assert arm_get(arm, f"{arm.scope(group)}?api-version={version}").status_code == 200, version
    assert arm_get(arm, f"{arm.scope(group)}/providers/Microsoft.Compute/virtualMachines"
                        "?api-version=2026-03-01").status_code == 200
    assert arm_get(arm, f"{account_id}?api-version=2026-06-01").json()["id"] == account_id


def test_a_private_dns_zone_has_its_internal_id_from_2020_01_01(arm: Arm, group: str,
                                                              unique: Callable[[str], str]) -> None:
    zone = arm.private_dns.private_zones.begin_create_or_update(
        group, f"{unique('zone')}.example.internal", {"location": "global"}).result()
    url = f"{zone.id}?api-version="

    assert "internalId" in arm_get(arm, url + "2020-01-01").json()["properties"]
    assert "internalId" not in arm_get(arm, url + "2018-09-01").json()["properties"]


def test_an_old_version_answers_without_the_fields_it_did_not_have(arm: Arm, group: str,
                                                                  unique: Callable[[str], str]) -> None:
    name = unique("disk-shape-")
    empty_disk(arm, group, name)
    url = f"{arm.scope(group)}/providers/Microsoft.Compute/disks/{name}?api-version="

    newest = arm_get(arm, url + "2026-03-02").json()["properties"]
    of_2020 = arm_get(arm, url + "2020-05-01").json()["properties"]
    of_2019 = arm_get(arm, url + "2019-03-01").json()["properties"]

    assert {"encryption", "networkAccessPolicy", "publicNetworkAccess"} <= newest.keys()
    assert "networkAccessPolicy" in of_2020 and "publicNetworkAccess" not in of_2020
    assert not {"encryption", "networkAccessPolicy", "publicNetworkAccess"} & of_2019.keys()
    assert of_2019["diskSizeGB"] == newest["diskSizeGB"] == 1


def test_a_private_endpoint_of_2020_has_no_custom_nic_name(arm: Arm, group: str, endpoint_subnet: str,
                                                          unique: Callable[[str], str]) -> None:
    account_id = create_account(arm, group, unique("stshape"))
    endpoint = blob_endpoint(arm, group, unique("pe-shape-"), endpoint_subnet, account_id)
    url = f"{endpoint.id}?api-version="

    assert "customNetworkInterfaceName" in arm_get(arm, url + "2026-03-01").json()["properties"]
    assert "customNetworkInterfaceName" not in arm_get(arm, url + "2020-11-01").json()["properties"]
    listed = arm_get(arm, f"{arm.scope(group)}/providers/Microsoft.Network/privateEndpoints?api-version=2020-11-01")
    assert all("ipConfigurations" not in e["properties"] for e in listed.json()["value"])


def test_each_version_list_is_ordered_and_every_routed_type_has_one() -> None:
    from vmshift.lab.arm.app import ALL_ROUTES

    for resource_type, versions in api_versions.RESOURCE_TYPES.items():
        assert list(versions) == sorted(set(versions)), resource_type
    for route in ALL_ROUTES:
        assert route.type_of({"recordType": "A"}) in api_versions.RESOURCE_TYPES, route.template


def test_docs_lab_md_shows_the_table_the_simulator_serves() -> None:
    document = (Path(__file__).parents[2] / "docs" / "lab.md").read_text()
    start = document.index("-->\n", document.index("<!-- api-versions: generated")) + len("-->\n")
    assert document[start:document.index("\n<!-- api-versions: end -->")] == api_versions.markdown()
