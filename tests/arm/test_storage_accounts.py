"""Storage accounts as a migration team uses them: keys that open real blobs on Azurite, network rules, and the
account owner's say over private endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import requests
from arm_clients import CACHE_ACCOUNT, Arm, blob_endpoint, create_account, decide
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storage.models import (
    NetworkRuleSet,
    StorageAccountUpdateParameters,
)
from azure.storage.blob import BlobServiceClient

pytestmark = pytest.mark.lab


def blob_service(arm: Arm, account: str, key: str) -> BlobServiceClient:
    """The account's blob endpoint on the lab's Azurite, signed in with a shared key as vmshift's mover is."""
    return BlobServiceClient(arm.lab["azurite"]["blob_endpoint"].format(account=account),
                             credential={"account_name": account, "account_key": key},
                             connection_verify=arm.lab["ca_file"])


def listed_keys(arm: Arm, group: str, account: str) -> list[str]:
    return [key["value"] for key in arm.storage.storage_accounts.list_keys(group, account)["keys"]]


def write_and_read_back(service: BlobServiceClient) -> bytes:
    container = service.get_container_client(f"replicas-{uuid.uuid4().hex[:8]}")
    container.create_container()
    container.upload_blob("disk-0.vhd", b"vmshift" * 100)
    return container.download_blob("disk-0.vhd").readall()


def test_an_account_created_through_arm_takes_blobs_with_the_keys_arm_lists(
    arm: Arm, group: str, unique: Callable[[str], str]
) -> None:
    account = unique("vmshiftnew")
    create_account(arm, group, account)
    key1, key2 = listed_keys(arm, group, account)
    assert key1 != key2
    for key in (key1, key2):
        assert write_and_read_back(blob_service(arm, account, key)) == b"vmshift" * 100
    with pytest.raises(HttpResponseError) as refused:  # the key is checked, not any key taken
        write_and_read_back(blob_service(arm, account, key2[:-8] + "AAAAAAA="))
    assert refused.value.error_code == "AuthorizationFailure"

    arm.storage.storage_accounts.delete(group, account)
    with pytest.raises(ResourceNotFoundError) as refused:
        write_and_read_back(blob_service(arm, account, key1))
    assert refused.value.error_code == "ResourceNotFound"  # Azurite's answer for an account it does not hold


def test_deleting_the_group_stops_azurite_taking_its_accounts_keys(
    arm: Arm, group: str, unique: Callable[[str], str]
) -> None:
    account = unique("vmshiftgone")
    create_account(arm, group, account)
    [key1, _] = listed_keys(arm, group, account)
    assert write_and_read_back(blob_service(arm, account, key1)) == b"vmshift" * 100

    arm.resources.resource_groups.begin_delete(group).result()
    with pytest.raises(ResourceNotFoundError) as refused:
        write_and_read_back(blob_service(arm, account, key1))
    assert refused.value.error_code == "ResourceNotFound"  # Azurite's answer for an account it does not hold


def test_a_seeded_account_lists_the_key_azurite_holds_for_it(arm: Arm) -> None:
    key1, _ = listed_keys(arm, "rg-migration", CACHE_ACCOUNT)
    assert key1 == arm.lab["azurite"]["accounts"][CACHE_ACCOUNT]
    assert write_and_read_back(blob_service(arm, CACHE_ACCOUNT, key1)) == b"vmshift" * 100


def test_network_rules_keep_azure_services_and_public_access_as_set(
    arm: Arm, group: str, unique: Callable[[str], str]
) -> None:
    account = unique("vmshiftacl")
    create_account(arm, group, account)
    rules = arm.storage.storage_accounts.get_properties(group, account).network_rule_set
    assert (rules.bypass, rules.default_action) == ("AzureServices", "Allow")

    arm.storage.storage_accounts.update(group, account, StorageAccountUpdateParameters(
        public_network_access="Disabled", network_rule_set=NetworkRuleSet(default_action="Deny")))
    locked = arm.storage.storage_accounts.get_properties(group, account)
    assert locked.public_network_access == "Disabled"
    assert (locked.network_rule_set.bypass, locked.network_rule_set.default_action) == ("AzureServices", "Deny")


def test_private_endpoint_on_a_blob_storage_account_is_refused(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account_id = create_account(arm, group, unique("vmshiftblobkind"), kind="BlobStorage")
    with pytest.raises(HttpResponseError) as refused:
        blob_endpoint(arm, group, "pe-blobkind", endpoint_subnet, account_id)
    assert (refused.value.status_code, refused.value.error.code) == (400, "OperationNotAllowedOnKind")
    assert list(arm.network.private_endpoints.list(group)) == []


def test_a_rejected_connection_stays_rejected_and_its_removal_disconnects_the_endpoint(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account = unique("vmshiftreject")
    endpoint = blob_endpoint(arm, group, "pe-rejected", endpoint_subnet, create_account(arm, group, account),
                             manual=True)
    [pending] = arm.storage.private_endpoint_connections.list(group, account)
    decide(arm, group, account, pending.name, "Rejected")

    with pytest.raises(HttpResponseError) as refused:
        decide(arm, group, account, pending.name, "Approved")
    assert (refused.value.status_code, refused.value.error.code) == (400, "InvalidValuesForRequestParameters")
    rejected = arm.storage.private_endpoint_connections.get(group, account, pending.name)
    assert rejected.private_endpoint.id == endpoint.id
    assert (rejected.private_link_service_connection_state.status,
            rejected.private_link_service_connection_state.description) == ("Rejected", "Rejected by the storage team")
    seen_by_endpoint = arm.network.private_endpoints.get(group, "pe-rejected").manual_private_link_service_connections
    assert seen_by_endpoint[0].private_link_service_connection_state.status == "Rejected"

    arm.storage.private_endpoint_connections.delete(group, account, pending.name)
    assert list(arm.storage.private_endpoint_connections.list(group, account)) == []
    with pytest.raises(ResourceNotFoundError):
        arm.storage.private_endpoint_connections.get(group, account, pending.name)
    seen_by_endpoint = arm.network.private_endpoints.get(group, "pe-rejected").manual_private_link_service_connections
    assert seen_by_endpoint[0].private_link_service_connection_state.status == "Disconnected"


def test_an_approved_connection_cannot_be_approved_again_but_can_be_rejected(
    arm: Arm, group: str, unique: Callable[[str], str], endpoint_subnet: str
) -> None:
    account = unique("vmshiftreapprove")
    blob_endpoint(arm, group, "pe-approved", endpoint_subnet, create_account(arm, group, account), manual=True)
    [pending] = arm.storage.private_endpoint_connections.list(group, account)
    decide(arm, group, account, pending.name, "Approved")
    with pytest.raises(HttpResponseError) as refused:
        decide(arm, group, account, pending.name, "Approved")
    assert refused.value.error.code == "InvalidValuesForRequestParameters"
    assert decide(arm, group, account, pending.name, "Rejected").private_link_service_connection_state.status \
        == "Rejected"


def test_list_keys_with_expand_kerb_gives_the_accounts_keys(arm: Arm) -> None:
    plain = arm.storage.storage_accounts.list_keys("rg-migration", CACHE_ACCOUNT)
    kerb = arm.storage.storage_accounts.list_keys("rg-migration", CACHE_ACCOUNT, expand="kerb")

    assert [k["value"] for k in kerb["keys"]] == [k["value"] for k in plain["keys"]]
    assert kerb["keys"][0]["value"] == arm.lab["azurite"]["accounts"][CACHE_ACCOUNT]
    token = arm.credential.get_token("https://management.azure.com/.default").token
    response = requests.post(f"{arm.lab['arm']['endpoint']}{arm.scope('rg-migration')}/providers/Microsoft.Storage/"
                             f"storageAccounts/{CACHE_ACCOUNT}/listKeys?api-version=2026-09-01&$expand=everything",
                             headers={"Authorization": f"Bearer {token}"}, verify=arm.lab["ca_file"], timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidValuesForRequestParameters"


def test_name_availability_is_answered_as_storage_answers_it(arm: Arm, group: str,
                                                             unique: Callable[[str], str]) -> None:
    """`az storage account create` asks before it creates: names are global and follow Storage's rules."""
    free = unique("stfree")
    assert arm.storage.storage_accounts.check_name_availability(
        {"name": free, "type": "Microsoft.Storage/storageAccounts"}).name_available is True
    taken = arm.storage.storage_accounts.check_name_availability(
        {"name": CACHE_ACCOUNT, "type": "Microsoft.Storage/storageAccounts"})
    assert (taken.name_available, taken.reason) == (False, "AlreadyExists")
    invalid = arm.storage.storage_accounts.check_name_availability(
        {"name": "Not_Valid", "type": "Microsoft.Storage/storageAccounts"})
    assert (invalid.name_available, invalid.reason) == (False, "AccountNameInvalid")
