"""The lab tenant signs the product in as Entra ID does, and ARM refuses requests without its token."""

from __future__ import annotations

import pytest
import requests
from arm_clients import Arm, lab_credential, management_client
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient

pytestmark = pytest.mark.lab


def test_client_secret_credential_gets_a_token_for_arm(arm: Arm) -> None:
    token = arm.credential.get_token("https://management.azure.com/.default")
    assert token.token.count(".") == 2
    groups = [g.name for g in arm.resources.resource_groups.list()]
    assert "rg-migration" in groups


def test_wrong_client_secret_is_refused_with_aadsts7000215(arm: Arm) -> None:
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        lab_credential(arm.lab, secret="not-the-secret").get_token("https://management.azure.com/.default")


def test_request_without_token_gets_401_with_azure_error_body(arm: Arm) -> None:
    url = f"{arm.lab['arm']['endpoint']}/subscriptions/{arm.subscription_id}/resourcegroups?api-version=2025-04-01"
    response = requests.get(url, verify=arm.lab["ca_file"], timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    forged = requests.get(url, verify=arm.lab["ca_file"], timeout=10,
                          headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"})
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_unknown_api_version_is_refused(arm: Arm) -> None:
    with pytest.raises(HttpResponseError) as refused:
        arm.network.virtual_networks.get("rg-hub", "vnet-hub", api_version="2099-01-01")
    assert refused.value.error.code == "NoRegisteredProviderFound"
    # azure-mgmt-resource takes the api-version per client, azure-mgmt-network per call.
    resources = management_client(ResourceManagementClient, arm.lab, arm.credential, api_version="2099-01-01")
    with pytest.raises(HttpResponseError) as refused:
        resources.resource_groups.get("rg-hub")
    assert refused.value.error.code == "InvalidApiVersionParameter"


def test_a_storage_token_is_issued_but_refused_by_arm(arm: Arm) -> None:
    token = arm.credential.get_token("https://storage.azure.com/.default").token
    url = f"{arm.lab['arm']['endpoint']}/subscriptions/{arm.subscription_id}/resourcegroups?api-version=2025-04-01"
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=arm.lab["ca_file"], timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
