"""The lab spec's `azure` section: what it may say, and what a lab starts with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from vmshift.lab.arm.seed import AzureSpec

DEFAULT_SPEC = Path(__file__).parents[2] / "vmshift" / "lab" / "specs" / "default.json"


def test_default_spec_names_one_appliance_vnet_and_three_kinds_of_account() -> None:
    spec = AzureSpec.model_validate(json.loads(DEFAULT_SPEC.read_text())["azure"])
    assert spec.appliance_vnet_ids() == [f"/subscriptions/{spec.subscription_id}/resourceGroups/rg-hub/providers/"
                                         "Microsoft.Network/virtualNetworks/vnet-hub"]
    assert {(a.kind, a.location) for a in spec.storage_accounts} == {
        ("StorageV2", "westeurope"), ("Storage", "westeurope"), ("StorageV2", "eastus")}


def test_a_misspelt_field_is_refused() -> None:
    azure = json.loads(DEFAULT_SPEC.read_text())["azure"]
    azure["virtual_networks"][0]["adress_space"] = azure["virtual_networks"][0].pop("address_space")
    with pytest.raises(ValidationError, match="adress_space"):
        AzureSpec.model_validate(azure)
