"""The Azure side's decisions that need no server: sizing, subnets, tags, names, storage preflight."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.mgmt.compute.models import ResourceSku
from azure.mgmt.network.models import VirtualNetwork
from azure.mgmt.storage.models import StorageAccount

from vmshift.azure import naming
from vmshift.azure import test_migration as tm
from vmshift.azure.endpoint import reaches, vnet_of
from vmshift.azure.errors import BuildInputInvalid
from vmshift.azure.preflight import cache_account_problems
from vmshift.azure.sizing import RegionOffer, VmSize, choose_size, offer_from_skus
from vmshift.azure.tags import merge_tags, vmshift_tags
from vmshift.azure.vms import TargetDisk, target_disks
from vmshift.state.document import DiskState, RecoveryPoint, VmState

MIB = 1 << 20
SPOKE = "/subscriptions/s/resourceGroups/rg-spoke/providers/Microsoft.Network/virtualNetworks/vnet-spoke"
NEW = "/subscriptions/s/resourceGroups/rg-spoke/providers/Microsoft.Network/virtualNetworks/vnet-new"
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

GEN1_AND_2 = frozenset({"V1", "V2"})
OFFER = RegionOffer(
    "westeurope",
    (
        VmSize("Standard_A2_v2", 2, 4, 4, frozenset({"1", "2", "3"})),
        VmSize("Standard_B2s", 2, 4, 4, frozenset({"1", "2", "3"}), GEN1_AND_2, premium_io=True),
        VmSize("Standard_D2s_v5", 2, 8, 4, frozenset({"1", "2", "3"}), GEN1_AND_2, premium_io=True),
        VmSize("Standard_D4s_v5", 4, 16, 8, frozenset({"1", "2"}), GEN1_AND_2, premium_io=True),
        VmSize("Standard_E4s_v5", 4, 32, 8, frozenset({"1", "2", "3"}), GEN1_AND_2, premium_io=True),
        VmSize("Standard_F2s_v2", 2, 4, 1, frozenset({"1"}), GEN1_AND_2, premium_io=True),
    ),
)


def _sku(name: str, vcpus: int, memory: int, disks: int, *, zones=("1", "2", "3"), restrictions=()) -> ResourceSku:
    return ResourceSku(
        {
            "resourceType": "virtualMachines",
            "name": name,
            "locations": ["westeurope"],
            "locationInfo": [{"location": "westeurope", "zones": list(zones)}],
            "capabilities": [
                {"name": "vCPUs", "value": str(vcpus)},
                {"name": "MemoryGB", "value": str(memory)},
                {"name": "MaxDataDiskCount", "value": str(disks)},
                {"name": "HyperVGenerations", "value": "V1,V2"},
                {"name": "PremiumIO", "value": "True"},
            ],
            "restrictions": list(restrictions),
        }
    )


def test_closest_match_is_the_smallest_size_that_fits_and_says_so():
    choice = choose_size("app-linux-01", OFFER, vcpus=2, memory_mib=8192, data_disks=2)
    assert (choice.name, choice.rule) == ("Standard_D2s_v5", "closest match")
    assert "at least 2 vCPUs, 8 GiB and 2 data-disk slots" in choice.reason


def test_closest_match_needs_enough_data_disk_slots_and_the_zone():
    assert choose_size("vm", OFFER, vcpus=2, memory_mib=4096, data_disks=2).name == "Standard_A2_v2"
    assert choose_size("vm", OFFER, vcpus=4, memory_mib=16384, data_disks=1, zone="3").name == "Standard_E4s_v5"


def test_closest_match_runs_generation_2_and_premium_disks():
    assert choose_size("vm", OFFER, vcpus=2, memory_mib=4096, data_disks=2, generation="V2").name == "Standard_B2s"
    assert choose_size("vm", OFFER, vcpus=2, memory_mib=4096, data_disks=2, premium=True).name == "Standard_B2s"
    with pytest.raises(BuildInputInvalid, match="does not run Generation 2 VMs") as refused:
        choose_size("win-01", OFFER, vcpus=2, memory_mib=1024, data_disks=0, planned="Standard_A2_v2", generation="V2")
    assert refused.value.field == "target_size"
    with pytest.raises(BuildInputInvalid, match="does not take Premium SSD"):
        choose_size("vm", OFFER, vcpus=2, memory_mib=1024, data_disks=0, assessed="Standard_A2_v2", premium=True)


def test_plan_size_wins_over_assessment_and_closest_match():
    choice = choose_size(
        "vm", OFFER, vcpus=2, memory_mib=1024, data_disks=0, planned="Standard_E4s_v5", assessed="Standard_D4s_v5"
    )
    assert (choice.name, choice.rule) == ("Standard_E4s_v5", "plan")
    choice = choose_size("vm", OFFER, vcpus=2, memory_mib=1024, data_disks=0, assessed="Standard_D4s_v5")
    assert (choice.name, choice.rule) == ("Standard_D4s_v5", "assessment")


def test_size_not_offered_in_the_region_names_vm_and_field():
    with pytest.raises(BuildInputInvalid) as refused:
        choose_size("win-sql-01", OFFER, vcpus=4, memory_mib=16384, data_disks=1, planned="Standard_M416ms_v2")
    assert (refused.value.vm, refused.value.field) == ("win-sql-01", "target_size")
    assert "not offered in region westeurope" in str(refused.value)


def test_no_size_fits_is_an_error_not_a_smaller_vm():
    with pytest.raises(BuildInputInvalid, match="no size in westeurope has 64 vCPUs"):
        choose_size("big", OFFER, vcpus=64, memory_mib=1024, data_disks=0)


def test_resource_skus_restricted_for_the_subscription_or_zone_are_left_out():
    offer = offer_from_skus(
        "westeurope",
        [
            _sku("Standard_D2s_v5", 2, 8, 4),
            _sku(
                "Standard_D4s_v5",
                4,
                16,
                8,
                restrictions=[
                    {"type": "Location", "values": ["westeurope"], "reasonCode": "NotAvailableForSubscription"}
                ],
            ),
            _sku(
                "Standard_E2s_v5",
                2,
                16,
                4,
                restrictions=[{"type": "Zone", "values": ["westeurope"], "restrictionInfo": {"zones": ["3"]}}],
            ),
        ],
    )
    assert [s.name for s in offer.sizes] == ["Standard_D2s_v5", "Standard_E2s_v5"]
    assert offer.size("standard_e2s_v5").zones == {"1", "2"}
    d2 = offer.size("Standard_D2s_v5")
    assert d2.hyper_v_generations == {"V1", "V2"} and d2.premium_io
    assert offer.zones == {"1", "2", "3"}
    assert offer_from_skus("northcentralus", [_sku("Standard_D2s_v5", 2, 8, 4)]).sizes == ()


def test_test_subnet_follows_azure_migrate_order():
    subnets = ["AzureBastionSubnet", "snet-isolated", "snet-app"]
    assert tm.choose_test_subnet("vm", subnets, "snet-app", planned="snet-isolated") == "snet-isolated"
    assert tm.choose_test_subnet("vm", subnets, "snet-app") == "snet-app"
    assert tm.choose_test_subnet("vm", subnets, "snet-data") == "snet-app"
    assert tm.choose_test_subnet("vm", ["GatewaySubnet", "AzureFirewallSubnet", "b", "a"], "x") == "a"


def test_test_subnet_that_does_not_exist_or_none_usable_is_refused():
    with pytest.raises(BuildInputInvalid) as refused:
        tm.choose_test_subnet("vm1", ["snet-app"], "snet-app", planned="snet-nope")
    assert refused.value.field == "test_subnet"
    with pytest.raises(BuildInputInvalid, match="no subnet a VM may use"):
        tm.choose_test_subnet("vm1", ["GatewaySubnet", "AzureBastionSubnet"], "snet-app")


def test_vmshift_tags_sit_on_top_of_the_plans_and_cannot_be_masked():
    own = vmshift_tags("win-sql-01", "run-7", "test-migration")
    merged = merge_tags("win-sql-01", "vm_tags", {"env": "prod", "owner": "dba"}, own)
    assert merged == {
        "env": "prod",
        "owner": "dba",
        "vmshift-source-vm": "win-sql-01",
        "vmshift-run": "run-7",
        "vmshift-purpose": "test-migration",
    }
    with pytest.raises(BuildInputInvalid, match="vmshift's own"):
        merge_tags("win-sql-01", "disk_tags", {"VMSHIFT-RUN": "mine"}, own)


def test_tags_beyond_azure_limits_are_refused_with_the_field():
    own = vmshift_tags("vm", "r", "migration")
    with pytest.raises(BuildInputInvalid) as refused:
        merge_tags("vm", "nic_tags", {f"t{i}": "v" for i in range(48)}, own)
    assert refused.value.field == "nic_tags"
    with pytest.raises(BuildInputInvalid, match="none of"):
        merge_tags("vm", "vm_tags", {"a/b": "v"}, own)
    with pytest.raises(BuildInputInvalid, match="256"):
        merge_tags("vm", "vm_tags", {"a": "v" * 257}, own)


def test_names_follow_azure_rules_and_test_suffix_fits_windows_limit():
    assert naming.target_vm_name("app-linux-01", None, "Linux") == "app-linux-01"
    assert naming.target_vm_name("win-sql-01", None, "Windows", test=True) == "win-sql-01-test"
    assert naming.target_vm_name("x", "win-sql-prod-01", "Windows", test=True) == "win-sql-pr-test"
    assert naming.os_disk_name("web-01") == "web-01-osdisk"
    assert naming.data_disk_name("web-01", 1) == "web-01-datadisk-1"
    assert naming.nic_name("web-01") == "web-01-nic"
    for bad, os_type in (("app_linux", "Linux"), ("-web", "Linux"), ("win-sql-prod-0001", "Windows")):
        with pytest.raises(BuildInputInvalid) as refused:
            naming.target_vm_name("src", bad, os_type)
        assert (refused.value.vm, refused.value.field) == ("src", "target_vm_name")


def _account(**changes) -> StorageAccount:
    body = {
        "id": "/subscriptions/sub-1/resourceGroups/rg-migration/providers/Microsoft.Storage/storageAccounts/cache01",
        "name": "cache01",
        "kind": "StorageV2",
        "location": "westeurope",
        "properties": {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Allow", "bypass": "None"}},
    }
    body.update(changes)
    return StorageAccount(body)


def test_a_gpv2_account_in_the_region_with_trusted_services_passes_preflight():
    assert cache_account_problems(_account(), subscription_id="sub-1", target_region="westeurope") == []
    denied = {"publicNetworkAccess": "Enabled", "networkAcls": {"defaultAction": "Deny", "bypass": "AzureServices"}}
    assert (
        cache_account_problems(_account(properties=denied), subscription_id="SUB-1", target_region="West Europe") == []
    )


def test_preflight_names_every_problem_with_what_to_change_and_where():
    account = _account(
        kind="Storage",
        location="eastus",
        properties={"publicNetworkAccess": "Disabled", "networkAcls": {"defaultAction": "Deny", "bypass": "Logging"}},
    )
    problems = cache_account_problems(account, subscription_id="sub-2", target_region="westeurope")
    assert len(problems) == 5
    kind, region, subscription, public, trusted = problems
    assert "kind is Storage" in kind and "Configuration > Upgrade" in kind
    assert "location is eastus" in region and "westeurope" in region
    assert "sub-1" in subscription and "sub-2" in subscription
    assert "cache01 > Networking > Public network access" in public
    assert "trusted services" in trusted and "bypass AzureServices" in trusted


def test_target_disks_come_from_the_latest_recovery_point_of_the_state_document():
    state = VmState(
        vm="win-sql-01",
        disks={
            "2000": DiskState(key=2000, blob_name="win-sql-01/disk-2000.vhd", blob_url="https://a/c/os.vhd",
                              capacity_bytes=MIB),
            "2001": DiskState(key=2001, blob_name="win-sql-01/disk-2001.vhd", blob_url="https://a/c/data.vhd",
                              capacity_bytes=MIB),
        },
        recovery_points=[
            RecoveryPoint(cycle=1, created_at=NOW, blob_snapshots={"2000": "t1", "2001": "t1"}, change_ids={}),
            RecoveryPoint(cycle=2, created_at=NOW, blob_snapshots={"2001": "t2b", "2000": "t2a"}, change_ids={}),
        ],
    )
    disks = target_disks(state, disk_skus={2001: "Premium_LRS"}, default_sku="StandardSSD_LRS")
    assert disks == (
        TargetDisk(2000, "StandardSSD_LRS", "https://a/c/os.vhd?snapshot=t2a"),
        TargetDisk(2001, "Premium_LRS", "https://a/c/data.vhd?snapshot=t2b"),
    )
    first = target_disks(state, disk_skus={}, default_sku="Standard_LRS", point=state.recovery_points[0])
    assert [d.source_uri for d in first] == ["https://a/c/os.vhd?snapshot=t1", "https://a/c/data.vhd?snapshot=t1"]


def test_the_appliance_reaches_its_own_vnet_and_connected_peers_only():
    hub = VirtualNetwork(
        {
            "id": "/subscriptions/s/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub",
            "properties": {
                "virtualNetworkPeerings": [
                    {"name": "to-spoke", "properties": {"remoteVirtualNetwork": {"id": remote}, "peeringState": state}}
                    for remote, state in ((SPOKE, "Connected"), (NEW, "Initiated"))
                ]
            },
        }
    )
    assert reaches(hub, hub.id.upper())
    assert reaches(hub, vnet_of(f"{SPOKE}/subnets/snet-endpoints"))
    assert not reaches(hub, NEW)
    assert not reaches(hub, SPOKE.replace("vnet-spoke", "vnet-elsewhere"))
