"""The lab tenant signs the product in as Entra ID does, and ARM refuses requests without its token."""

from __future__ import annotations

import json

import msal
import pytest
import requests
from arm_clients import Arm, lab_credential, management_client
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient

pytestmark = pytest.mark.lab

# The Azure CLI asks for its cloud's ARM resource ID + "/.default": with a trailing slash on the ID, hence "//".
# The public cloud's ID is https://management.core.windows.net/; clouds registered with management.azure.com/
# ask for that one.
CLI_SCOPES = ("https://management.azure.com//.default", "https://management.core.windows.net//.default")


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


@pytest.mark.parametrize("scope", CLI_SCOPES)
def test_the_token_request_of_the_azure_cli_is_answered(arm: Arm, scope: str) -> None:
    lab = arm.lab["arm"]
    response = requests.post(f"{lab['authority']}/{lab['tenant_id']}/oauth2/v2.0/token", verify=arm.lab["ca_file"],
                             timeout=10, data={
                                 "grant_type": "client_credentials", "client_id": lab["client_id"],
                                 "client_secret": lab["client_secret"], "scope": scope, "client_info": "1",
                                 "claims": json.dumps({"access_token": {"xms_cc": {"values": ["CP1"]}}})})

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    groups = requests.get(f"{lab['endpoint']}/subscriptions/{lab['subscription_id']}/resourcegroups"
                          "?api-version=2024-11-01", headers={"Authorization": f"Bearer {token}"},
                          verify=arm.lab["ca_file"], timeout=10)
    assert groups.status_code == 200


def test_msal_as_the_azure_cli_drives_it_gets_an_arm_token(arm: Arm, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = arm.lab["arm"]
    # The CLI's MSAL trusts the lab CA through REQUESTS_CA_BUNDLE, which overrides a session's own `verify`.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", arm.lab["ca_file"])
    app = msal.ConfidentialClientApplication(
        lab["client_id"], client_credential=lab["client_secret"], authority=f"{lab['authority']}/{lab['tenant_id']}",
        instance_discovery=False, client_capabilities=["CP1"])
    result = app.acquire_token_for_client([CLI_SCOPES[1]], claims_challenge=json.dumps(
        {"access_token": {"nbf": {"essential": True, "value": "1700000000"}}}))

    assert "access_token" in result, result
    response = requests.get(f"{lab['endpoint']}/subscriptions?api-version=2022-12-01",
                            headers={"Authorization": f"Bearer {result['access_token']}"},
                            verify=arm.lab["ca_file"], timeout=10)
    assert [s["subscriptionId"] for s in response.json()["value"]] == lab["subscriptions"]


def test_a_token_for_the_labs_own_arm_address_is_issued_and_taken_by_arm(arm: Arm) -> None:
    # Ansible's azure.azcollection asks for `<the cloud's resource manager endpoint>/.default`: on Azure that is
    # ARM's own URL, which Entra takes for ARM's app; in the lab, the lab ARM's address.
    endpoint = arm.lab["arm"]["endpoint"]
    token = arm.credential.get_token(f"{endpoint}/.default").token
    url = f"{endpoint}/subscriptions/{arm.subscription_id}/resourcegroups?api-version=2025-04-01"
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, verify=arm.lab["ca_file"], timeout=10)
    assert response.status_code == 200
    with pytest.raises(ClientAuthenticationError, match="AADSTS1002012"):
        arm.credential.get_token("https://127.0.0.2:1/.default")
