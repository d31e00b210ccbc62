"""What `az login`, `az cloud register` and Ansible ask before they touch a resource: the subscriptions and
tenant the service principal reaches, the lab described as a cloud, the resource providers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from arm_clients import Arm, blob_endpoint, create_account, management_client
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from raw_arm import arm_get

from vmshift.lab.arm import api_versions

pytestmark = pytest.mark.lab


def subscription_client(arm: Arm) -> SubscriptionClient:
    return SubscriptionClient(arm.credential, base_url=arm.lab["arm"]["endpoint"],
                              credential_scopes=["https://management.azure.com/.default"],
                              connection_verify=arm.lab["ca_file"])


def test_the_service_principal_sees_the_labs_subscriptions_and_tenant(arm: Arm) -> None:
    client = subscription_client(arm)
    subscriptions = list(client.subscriptions.list())

    assert [(s.subscription_id, s.tenant_id, s.state) for s in subscriptions] == \
        [(sub, arm.lab["arm"]["tenant_id"], "Enabled") for sub in arm.lab["arm"]["subscriptions"]]
    assert subscriptions[0].subscription_id == arm.subscription_id
    assert client.subscriptions.get(arm.subscription_id).display_name == subscriptions[0].display_name
    assert [t.tenant_id for t in client.tenants.list()] == [arm.lab["arm"]["tenant_id"]]


def test_a_subscription_out_of_reach_is_not_found(arm: Arm) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        subscription_client(arm).subscriptions.get("99999999-9999-4999-8999-999999999999")
    assert missing.value.error.code == "SubscriptionNotFound"


def test_the_azure_clis_subscription_version_answers_in_its_shape(arm: Arm) -> None:
    newest = arm_get(arm, "/subscriptions?api-version=2022-12-01").json()["value"][0]
    of_2016 = arm_get(arm, "/subscriptions?api-version=2016-06-01").json()["value"][0]

    assert newest["id"] == f"/subscriptions/{arm.subscription_id}"
    assert {"tags", "managedByTenants"} <= newest.keys()
    assert not {"tags", "managedByTenants"} & of_2016.keys()
    # subscriptions.json brought managedByTenants in 2019-06-01 and tags in 2019-11-01.
    assert "tags" in arm_get(arm, "/subscriptions?api-version=2019-11-01").json()["value"][0]
    assert "tags" not in arm_get(arm, "/subscriptions?api-version=2019-06-01").json()["value"][0]


def test_the_metadata_endpoint_describes_the_lab_as_a_cloud_without_a_token(arm: Arm) -> None:
    endpoint = arm.lab["arm"]["endpoint"]
    response = requests.get(f"{endpoint}/metadata/endpoints?api-version=2022-09-01", verify=arm.lab["ca_file"],
                            timeout=10)
    cloud = response.json()

    assert response.status_code == 200
    # What azure.cli.core.cloud._arm_to_cli_mapper and Ansible read.
    assert cloud["resourceManager"].rstrip("/") == endpoint
    assert cloud["authentication"]["loginEndpoint"].rstrip("/") == arm.lab["arm"]["authority"]
    assert cloud["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    assert cloud["suffixes"]["storage"] == "core.windows.net"
    listed = requests.get(f"{endpoint}/metadata/endpoints?api-version=2019-05-01", verify=arm.lab["ca_file"],
                          timeout=10).json()
    assert listed == [cloud]


def test_the_metadata_endpoint_refuses_a_version_it_never_had(arm: Arm) -> None:
    response = requests.get(f"{arm.lab['arm']['endpoint']}/metadata/endpoints?api-version=2021-01-01",
                            verify=arm.lab["ca_file"], timeout=10)

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "InvalidApiVersionParameter", "message": (
        "The api-version '2021-01-01' is invalid. The supported versions are "
        "'2022-09-01, 2020-06-01, 2019-05-01, 2015-01-01'.")}


def test_resource_providers_list_their_types_with_the_versions_the_lab_serves(arm: Arm) -> None:
    compute = arm.resources.providers.get("Microsoft.Compute")
    types = {t.resource_type: t for t in compute.resource_types}

    assert compute.registration_state == "Registered"
    assert types["disks"].api_versions == list(reversed(api_versions.DISK))
    assert "West Europe" in types["virtualMachines"].locations
    zones = {t.resource_type: t for t in arm.resources.providers.get("Microsoft.Network").resource_types}
    assert zones["privateDnsZones"].locations == ["global"]
    assert {"Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources", "Microsoft.Storage"} <= \
        {p.namespace for p in arm.resources.providers.list()}
    with pytest.raises(HttpResponseError) as unknown:
        arm.resources.providers.get("Microsoft.NotAProvider")
    assert unknown.value.error.code == "InvalidResourceNamespace"


def test_registering_a_registered_provider_answers_it(arm: Arm) -> None:
    resources = management_client(ResourceManagementClient, arm.lab, arm.credential)
    assert resources.providers.register("Microsoft.Storage").registration_state == "Registered"


def test_subscription_wide_listings_find_what_each_group_holds(arm: Arm, group: str, endpoint_subnet: str,
                                                               unique: Callable[[str], str]) -> None:
    """`az vm list`, `az network nic list`, `az disk list` without -g ask ARM for the whole subscription."""
    account_id = create_account(arm, group, unique("stlist"))
    endpoint = blob_endpoint(arm, group, unique("pe-list-"), endpoint_subnet, account_id)
    nic_id = endpoint.network_interfaces[0].id

    assert endpoint.id in [e.id for e in arm.network.private_endpoints.list_by_subscription()]
    assert nic_id in [n.id for n in arm.network.network_interfaces.list_all()]
    assert endpoint_subnet.rsplit("/subnets/", 1)[0] in [v.id for v in arm.network.virtual_networks.list_all()]
    assert {"rg-hub", group} <= {v.id.split("/")[4] for v in arm.network.virtual_networks.list_all()}
    assert account_id in [a.id for a in arm.storage.storage_accounts.list()]
    assert isinstance(list(arm.compute.virtual_machines.list_all()), list)
    assert isinstance(list(arm.compute.disks.list()), list)
