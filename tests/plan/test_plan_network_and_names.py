"""The network and naming rules a plan is held to before anything is built: IPs Azure would refuse, NICs that
cannot be built, and one VM-name rule that readiness, validation and the build share."""

from __future__ import annotations

import pytest
from plan_helpers import NOW, errors_at

from vmshift.azure.addresses import ip_problem
from vmshift.azure.errors import BuildInputInvalid
from vmshift.azure.naming import target_vm_name
from vmshift.migration.readiness import replication_readiness
from vmshift.plan.schema import NicsNotBuildable
from vmshift.vsphere.facts import DiskFacts, VmFacts


@pytest.mark.parametrize(
    ("ip", "refused"),
    [("10.20.1.4", None), ("10.20.1.254", None), ("10.20.1.0", "reserves"), ("10.20.1.3", "reserves"),
     ("10.20.1.255", "reserves"), ("10.20.2.10", "outside"), ("10.30.0.5", None)],
)
def test_a_static_ip_must_be_a_usable_address_of_its_subnet(ip, refused):
    problem = ip_problem(ip, ["10.20.1.0/24", "10.30.0.0/24"], "snet-app")

    assert problem is None if refused is None else refused in problem and "snet-app" in problem


def test_an_ip_given_twice_in_the_same_vnet_and_subscription_is_refused_on_the_later_row(validate_example):
    result = validate_example({3: {"nics": "1:Primary:snet-app:10.20.2.10"}})

    assert (3, "nics") in errors_at(result)
    assert "10.20.2.10" in next(e.message for e in result.errors if e.row == 3)


def test_the_same_ip_in_another_subscription_is_another_network(validate_example):
    result = validate_example({3: {"nics": "1:Primary:snet-app:10.20.2.10",
                                   "target_subscription": "11111111-2222-4333-8444-555555555555"}})

    assert result.ok, result.text()


def test_two_nics_of_one_vm_with_one_ip_are_refused(validate_example):
    result = validate_example({2: {"nics": "1:Primary:snet-data:10.20.2.10;2:Secondary:snet-app:10.20.2.10"}})

    assert (2, "nics") in errors_at(result) and "this VM" in result.errors[0].message


@pytest.mark.parametrize("nics", ["1:Primary;2:DoNotCreate:snet-app", "1:Primary;2:DoNotCreate::10.20.1.40",
                                  "1:Primary;2:DoNotCreate:::::nic-2"])
def test_a_nic_that_is_not_created_takes_no_settings(validate_example, nics):
    result = validate_example({3: {"nics": nics}})

    assert (3, "nics") in errors_at(result)


def test_test_settings_on_a_nic_need_a_test_vnet(validate_example):
    result = validate_example({4: {"nics": "1:Primary:snet-app::10.30.1.9", "test_vnet": "", "test_subnet": ""}})

    assert (4, "nics") in errors_at(result)


def test_a_vnet_given_by_id_must_be_in_the_vms_subscription(validate_example):
    other = ("/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-net/providers/"
             "Microsoft.Network/virtualNetworks/vnet-target")
    ours = other.replace("11111111-2222-4333-8444-555555555555", "00000000-1111-4222-8333-444444444444")

    assert (2, "target_vnet") in errors_at(validate_example({2: {"target_vnet": other}}))
    assert validate_example({2: {"target_vnet": ours}}).ok


def test_a_test_vnet_given_by_id_is_still_not_the_target_vnet(validate_example):
    same = ("/subscriptions/00000000-1111-4222-8333-444444444444/resourceGroups/rg-target/providers/"
            "Microsoft.Network/virtualNetworks/vnet-target")

    assert (2, "test_vnet") in errors_at(validate_example({2: {"test_vnet": same}}))


def test_names_given_to_disks_and_nics_must_differ_within_a_resource_group(validate_example):
    result = validate_example({2: {"disk_names": "1=shared-name"}, 3: {"disk_names": "1=shared-name"},
                               4: {"nics": "1:Primary:::::nic-a"}, 5: {"nics": "1:Primary:::::NIC-A"}})

    assert {(3, "disk_names"), (5, "nics")} <= errors_at(result)


def test_a_named_disk_must_be_one_that_is_migrated(validate_example):
    result = validate_example({2: {"disks": "1;2", "disk_names": "3=sql-01-logs"}})

    assert (2, "disk_names") in errors_at(result)


def test_sql_server_licence_is_for_windows_guests(validate_example):
    result = validate_example({3: {"sql_license": "AHUB"}})

    assert (3, "sql_license") in errors_at(result)
    assert validate_example({2: {"sql_license": "DR"}}).ok


NAMES = [("web-01", "linux", True), ("web_01", "linux", False), ("db.01", "linux", False), ("-web", "linux", False),
         ("web-", "linux", False), ("x" * 64, "linux", True), ("x" * 65, "linux", False),
         ("win-sql-prod-01", "windows", True), ("win-sql-prod-001", "windows", False)]


@pytest.mark.parametrize(("name", "os_type", "allowed"), NAMES)
def test_readiness_validation_and_the_build_judge_a_vm_name_alike(validate_example, name, os_type, allowed):
    guest = "windows2019srv_64Guest" if os_type == "windows" else "rhel8_64Guest"
    ready = replication_readiness(VmFacts(name="src", guest_os=guest, firmware="bios", target_name=name,
                                          disks=(DiskFacts(2000, 1 << 30, "[ds] src/src.vmdk"),))).ready
    row = {"target_vm_name": name, "os_type": os_type, "hybrid_benefit": "no", "sql_license": ""}
    validated = (2, "target_vm_name") not in errors_at(validate_example({2: row}))
    try:
        target_vm_name("src", name, os_type.capitalize())
        built = True
    except BuildInputInvalid:
        built = False

    assert (ready, validated, built) == (allowed, allowed, allowed)


def test_an_empty_target_name_takes_the_source_name_only_if_azure_allows_it(validate_example):
    result = validate_example({2: {"source_vm": "win_sql_01", "target_vm_name": ""}}, now=NOW)

    assert (2, "target_vm_name") in errors_at(result)


def _row(validate_example, row: int, nics: str):
    result = validate_example({row: {"nics": nics}})
    return next(vm for wave in result.plan.waves for vm in wave.vms if vm.row == row)


def test_every_source_nic_is_built_unless_do_not_create_with_the_primary_first(validate_example):
    web = _row(validate_example, 3,
               "1:Secondary:snet-app:10.20.1.20;2:Primary:snet-data::10.30.2.9:snet-isolated:web-b")

    nics = web.nics_to_build(3)
    assert [(n.number, n.selection.value, n.subnet, n.ip, n.test_subnet, n.name) for n in nics] == [
        (2, "Primary", "snet-data", None, "snet-isolated", "web-b"),
        (1, "Secondary", "snet-app", "10.20.1.20", "snet-app", None),
        (3, "Secondary", "snet-app", None, "snet-app", None)]


def test_without_a_primary_mapped_the_first_nic_built_is_primary(validate_example):
    web = _row(validate_example, 3, "1:DoNotCreate;2:Secondary:snet-data")

    assert [(n.number, n.selection.value) for n in web.nics_to_build(2)] == [(2, "Primary")]


@pytest.mark.parametrize(("nics", "count", "message"), [("1:Primary;3:Secondary", 2, "maps NIC 3"),
                                                         ("1:DoNotCreate", 1, "needs one")])
def test_nics_that_do_not_fit_the_source_vm_are_refused(validate_example, nics, count, message):
    with pytest.raises(NicsNotBuildable, match=message):
        _row(validate_example, 3, nics).nics_to_build(count)
