"""The online checks: vCenter's inventory, what ARM offers in the region, what already replicates."""

from __future__ import annotations

import pandas as pd
from plan_helpers import EXAMPLES, NOW, errors_at

from vmshift.plan import OfferedSize, ReplicationState, StaticChecks, validate_plan
from vmshift.plan.schema import OsType
from vmshift.vsphere.facts import DiskFacts, VmFacts, facts_from_inventory
from vmshift.vsphere.inventory import INVENTORY_COLUMNS


def source_vm(name: str, moref: str, guest_os: str, disk_count: int) -> VmFacts:
    disks = tuple(DiskFacts(2000 + i, 2**30, f"[ds-ssd-01] {name}/{name}_{i}.vmdk") for i in range(disk_count))
    return VmFacts(name, guest_os, "bios", disks, moref=moref)


LAB_VMS = (
    source_vm("app-linux-01", "vm-41", "ubuntu64Guest", 1),
    source_vm("win-sql-01", "vm-42", "windows2019srv_64Guest", 2),
    source_vm("web-rhel-02", "vm-43", "rhel8_64Guest", 1),
    source_vm("win-iis-03", "vm-44", "windows2016srv_64Guest", 1),
)
SIZES = {"westeurope": tuple(OfferedSize(name, frozenset({"1", "2"}))
                             for name in ("Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5"))}
LAB = StaticChecks(LAB_VMS, SIZES)


def test_example_passes_the_online_checks(validate_example):
    assert validate_example(checks=LAB).ok


def test_vm_not_in_the_inventory_suggests_close_names(validate_example):
    result = validate_example({3: {"source_vm": "web-rhel-2", "target_vm_name": "web-rhel-2"}}, checks=LAB)

    assert (3, "source_vm") in errors_at(result)
    assert "did you mean web-rhel-02" in result.errors[0].message


def test_vm_by_moref_is_found(validate_example):
    assert validate_example({3: {"source_vm": "vm-43", "target_vm_name": "web-rhel-02"}}, checks=LAB).ok


def test_size_not_offered_in_the_region(validate_example):
    result = validate_example({3: {"vm_size": "Standard_M416ms_v2"}}, checks=LAB)

    assert (3, "vm_size") in errors_at(result)
    assert "not offered in westeurope" in result.errors[0].message


def test_zone_not_offered_for_the_size(validate_example):
    result = validate_example({3: {"availability_zone": "3"}}, checks=LAB)

    assert (3, "availability_zone") in errors_at(result)
    assert "allowed: 1, 2" in result.errors[0].message


def test_region_without_sizes(validate_example):
    assert (3, "region") in errors_at(validate_example({3: {"region": "marsnorth"}}, checks=LAB))


def test_os_type_is_taken_from_vcenter_for_the_linux_hybrid_benefit_rule(validate_example):
    result = validate_example({3: {"os_type": "", "hybrid_benefit": "yes"}}, checks=LAB)

    assert (3, "hybrid_benefit") in errors_at(result)


def test_os_type_contradicting_vcenter(validate_example):
    assert (3, "os_type") in errors_at(validate_example({3: {"os_type": "windows", "hybrid_benefit": "no"}},
                                                         checks=LAB))


def test_disk_that_the_vm_does_not_have(validate_example):
    assert (2, "disks") in errors_at(validate_example({2: {"disks": "1;3"}}, checks=LAB))


def test_replicating_vm_cannot_change_cache_account_or_region(validate_example):
    replicating = StaticChecks(LAB_VMS, SIZES | {"northeurope": SIZES["westeurope"]}, {
        "win-sql-01": ReplicationState("win-sql-01", "vmshiftcacheeus", "westeurope"),
        "web-rhel-02": ReplicationState("web-rhel-02", "vmshiftcache01", "westeurope"),
    })

    result = validate_example({3: {"region": "northeurope"}}, checks=replicating)

    assert {(2, "cache_storage_account"), (3, "region")} <= errors_at(result)
    assert "fixed once replication starts" in result.errors[0].message


def test_at_scale_plan_is_checked_against_the_inventory_too():
    result = validate_plan(EXAMPLES / "azure-migrate-input.csv", checks=StaticChecks(LAB_VMS[:3], SIZES),
                           region="westeurope", cache_storage_account="vmshiftcache01", start_at=NOW, now=NOW)

    assert (5, "SOURCE_MACHINE_NAME") in errors_at(result)


def test_source_vms_from_the_inventory_frame():
    frame = pd.DataFrame(
        [{"vm": "win-sql-01", "moref": "vm-42", "guest_os": "windows2019srv_64Guest", "disk_key": key}
         for key in (2000, 2001)]
        + [{"vm": "empty-01", "moref": "vm-50", "guest_os": "otherGuest", "disk_key": None}],
        columns=INVENTORY_COLUMNS,
    )

    facts = facts_from_inventory(frame)
    sql, empty = facts["win-sql-01"], facts["empty-01"]
    assert (sql.name, sql.moref, sql.disk_count, sql.os_type) == ("win-sql-01", "vm-42", 2, OsType.WINDOWS)
    assert (empty.disk_count, empty.os_type) == (0, None)


def test_a_row_for_another_vcenter_is_refused(validate_example):
    checks = StaticChecks(LAB_VMS, SIZES, vcenter_hosts=("vc01.lab.local",))

    result = validate_example({3: {"vcenter": "vc02.lab.local"}, 4: {"vcenter": "VC01.lab.local:443"}},
                              checks=checks)

    assert errors_at(result) == {(3, "vcenter")}
    assert "allowed: vc01.lab.local or empty" in result.errors[0].message


def test_a_subscription_the_credentials_do_not_reach_and_a_vnet_not_in_it_are_named(validate_example):
    first = "00000000-1111-4222-8333-444444444444"
    vnets = frozenset(f"/subscriptions/{first}/resourcegroups/rg-target/providers/microsoft.network/virtualnetworks/{n}"
                      for n in ("vnet-target", "vnet-test"))
    checks = StaticChecks(LAB_VMS, SIZES, subscriptions=frozenset({first}), networks=vnets)
    result = validate_example({2: {"target_subscription": "11111111-2222-4333-8444-555555555555"},
                               3: {"target_vnet": "vnet-gone"}}, checks=checks)

    assert errors_at(result) == {(2, "target_subscription"), (3, "target_vnet")}
    assert "11111111-2222-4333-8444-555555555555 is not one vmshift's credentials reach" in result.errors[0].message
    assert f"VNet vnet-gone is not in resource group rg-target of subscription {first}" in result.errors[1].message
