"""vmshift may list the keys of the cache accounts' group only: an account elsewhere in the subscription that it
can see (its identity also holds Reader on the subscription, as many do) is skipped, and named in a warning, when
a plan looks for VMs that already replicate."""

from __future__ import annotations

import logging

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient

from vmshift.azure.clients import connect
from vmshift.lab.azure_roles import azure_role_assignments, azure_roles_held
from vmshift.migration.live_checks import CacheAccountStates

pytestmark = pytest.mark.lab


def test_an_account_outside_vmshifts_groups_is_skipped_when_looking_for_replicating_vms(
    lab: dict, owner, caplog: pytest.LogCaptureFixture
) -> None:
    groups = ResourceManagementClient(owner.credential, owner.config.subscription_id,
                                      base_url=owner.config.arm_endpoint, connection_verify=owner.config.ca_file,
                                      credential_scopes=["https://management.azure.com/.default"])
    groups.resource_groups.create_or_update("rg-not-vmshifts", {"location": "westeurope"})
    owner.storage.storage_accounts.begin_create("rg-not-vmshifts", "stnotvmshift01", {
        "location": "westeurope", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}).result()
    try:
        documented = azure_role_assignments(lab)
        with caplog.at_level(logging.WARNING), azure_roles_held(lab, [*documented, {"role": "Reader", "scope": ""}]):
            states = CacheAccountStates.from_azure(connect())
        assert states("no-such-vm") is None
        assert "stnotvmshift01" in caplog.text and "not allowed to list its keys" in caplog.text
    finally:
        groups.resource_groups.begin_delete("rg-not-vmshifts").result()
